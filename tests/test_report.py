"""The search's verdict: next steps that find the right search, and stopped searches."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from kvsf_tune import report
from kvsf_tune.reliability import TrialSummary
from kvsf_tune.tuning import SearchResult
from conftest import run_cli

SETTING = {"optimizer": "adam", "learning_rate": 0.05, "batch_size": 32, "epochs": 2, "restarts": 2}


def summary(trial_id: str = "00") -> TrialSummary:
    return TrialSummary(
        trial_id=trial_id,
        hyperparameters=SETTING,
        status="completed",
        runs=64,
        passes=64,
        pass_rate=1.0,
        pass_rate_lower_bound=0.943,
        val_accuracy={"mean": 0.97, "min": 0.96, "max": 0.98},
        fit_seconds=1.0,
        cost=100,
    )


def reliable_result(project_dir: Path) -> SearchResult:
    confirmation = {"trial_id": "00", "runs": 64, "passes": 64, "pass_rate": 1.0, "pass_rate_lower_bound": 0.943, "reliable": True}
    return SearchResult(
        model="matcher",
        project_dir=project_dir,
        trials=(summary(),),
        best="00",
        reliable=True,
        confirmation=confirmation,
        confirmations=(confirmation,),
    )


def next_commands(text: str) -> list[list[str]]:
    """Return the commands quoted in backticks on the verdict's `Next:` line, split into words."""
    line = next(line for line in text.splitlines() if line.startswith("Next:"))
    return [shlex.split(quoted) for quoted in line.split("`")[1::2]]


def test_next_steps_default_place():
    export, tensorboard = next_commands(report.verdict(reliable_result(Path("logs") / "matcher")))

    assert export == ["kvsf-tune", "export", "matcher"]
    assert tensorboard == ["kvsf-tune", "tensorboard"]


def test_next_steps_name_logdir_and_project(tmp_path):
    log_dir = tmp_path / "my logs"

    export, tensorboard = next_commands(report.verdict(reliable_result(log_dir / "bayes")))

    assert export == ["kvsf-tune", "export", "matcher", "--logdir", str(log_dir), "--project", "bayes"]
    assert tensorboard == ["kvsf-tune", "tensorboard", "--logdir", str(log_dir)]


def test_next_steps_absolute_default_logdir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    export, _ = next_commands(report.verdict(reliable_result(Path(os.getcwd()) / "logs" / "matcher")))

    assert export == ["kvsf-tune", "export", "matcher"]


@pytest.mark.parametrize("max_trials, counted", [(16, "1 of 16 trials"), (None, "1 trial")])
def test_unfinished_search_verdict(tmp_path, max_trials, counted):
    result = SearchResult(
        model="matcher", project_dir=tmp_path, trials=(summary(),), best="00", reliable=False, confirmation=None,
        finished=False, max_trials=max_trials,
    )

    text = report.verdict(result)

    assert text.startswith(f"The search has not finished: {counted} recorded.")
    assert "kvsf-tune search" in text
    assert "Try more trials" not in text


def test_trials_command_reports_stopped_search(export_search):
    log_dir, _ = export_search

    outcome = run_cli("trials", "voter", "--logdir", log_dir, "--project", "stopped")

    assert outcome.code == 0, outcome.stderr
    assert "The search has not finished: 1 of 4 trials recorded." in outcome.stdout
    assert f"run `kvsf-tune search voter --logdir {log_dir.resolve()} --project stopped" in outcome.stdout
