"""Tests of failures during a search: diverged trials, trials that raise, and a search where all fail.

The failures are real. SGD with momentum 0.9 and a learning rate of 1e36 drives the matcher's
weights to infinity within one epoch. A setting with 2**31 restarts passes the search-space checks,
but drawing 4 x 2**31 distinct replica seeds from 2**31 - 1 raises a ValueError inside the trial.
(The voter does not diverge even at a learning rate of 1e38, because its sigmoid output saturates
and its squared-error loss stays bounded.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvsf_tune import records
from kvsf_tune.cli import app
from kvsf_tune.errors import EXIT_NOT_RELIABLE, EXIT_USAGE

KVSF_TUNE = Path(sys.executable).with_name("kvsf-tune")
TINY_OPTIONS = ["--runs", "4", "--confirmation-runs", "4", "--max-trials", "2"]
DIVERGING_RATE = 1e36

# Lines that TensorFlow, absl and XLA print on stderr unless they are silenced (compared in lower case).
NOISE = ("onednn", "cuda", "absl", "all log messages", "i0000", "w0000", "e0000", "xla", "cpu_feature_guard")


def space_text(*, learning_rate: str, restarts: str = 'type = "Fixed"\nvalue = 1') -> str:
    return (
        '[optimizer]\ntype = "Fixed"\nvalue = "sgd"\n'
        '[momentum]\ntype = "Fixed"\nvalue = 0.9\n'
        f"[learning_rate]\n{learning_rate}\n"
        '[batch_size]\ntype = "Fixed"\nvalue = 64\n'
        '[epochs]\ntype = "Fixed"\nvalue = 1\n'
        f"[restarts]\n{restarts}\n"
    )


# The grid tries the values in order: first a setting that trains, then one that fails.
DIVERGING_SPACE = space_text(learning_rate=f'type = "Choice"\nvalues = [0.3, {DIVERGING_RATE}]')
ALWAYS_DIVERGING_SPACE = space_text(learning_rate=f'type = "Fixed"\nvalue = {DIVERGING_RATE}')
CRASHING_SPACE = space_text(
    learning_rate='type = "Fixed"\nvalue = 0.3', restarts=f'type = "Choice"\nvalues = [1, {2**31}]'
)


def invoke(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def clean_environment() -> dict[str, str]:
    # Without these variables the CLI itself must keep TensorFlow quiet.
    return {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL")}


def by_learning_rate(output: dict, rate: float) -> dict:
    return next(trial for trial in output["trials"] if trial["hyperparameters"]["learning_rate"] == rate)


@pytest.fixture(scope="module")
def diverged_search(tmp_path_factory):
    """Run a grid search of two trials, the second diverging, with -v and --json."""
    folder = tmp_path_factory.mktemp("diverged")
    space = folder / "space.toml"
    space.write_text(DIVERGING_SPACE)
    log_dir = folder / "logs"

    # A target of 0.6 lets the healthy trial pass, so confirmation has something to confirm.
    result = invoke(
        "-v", "search", "matcher", "--space", space, "--tuner", "grid", *TINY_OPTIONS,
        "--target", "0.6", "--required-pass-rate", "0.3", "--logdir", log_dir, "--json",
    )
    return result, log_dir


@pytest.fixture(scope="module")
def crashed_search(tmp_path_factory):
    """Run the installed script on a grid whose second trial raises, twice: fresh, then resumed."""
    folder = tmp_path_factory.mktemp("crashed")
    space = folder / "space.toml"
    space.write_text(CRASHING_SPACE)
    command = [str(KVSF_TUNE), "search", "matcher", "--space", str(space), "--tuner", "grid", *TINY_OPTIONS]
    command += ["--logdir", str(folder / "logs"), "--json"]

    runs = [
        subprocess.run(command, capture_output=True, text=True, timeout=120, env=clean_environment()) for _ in range(2)
    ]
    return runs, folder / "logs"


# A diverged trial.


def test_diverged_trial_recorded_failed(diverged_search):
    result, log_dir = diverged_search
    output = json.loads(result.stdout)
    diverged = by_learning_rate(output, DIVERGING_RATE)
    record = records.load_trial(records.trial_dir(records.project_dir(log_dir, "matcher"), diverged["trial_id"]))

    assert diverged["status"] == "failed"
    assert "diverged" in diverged["message"]
    assert all(run.diverged for run in record.runs)


def test_diverged_trial_ranks_last(diverged_search):
    result, _ = diverged_search
    output = json.loads(result.stdout)

    assert len(output["trials"]) == 2
    assert output["trials"][0]["status"] == "completed"
    assert output["trials"][-1]["hyperparameters"]["learning_rate"] == DIVERGING_RATE


def test_diverged_trial_never_confirmed(diverged_search):
    result, log_dir = diverged_search
    output = json.loads(result.stdout)
    diverged = by_learning_rate(output, DIVERGING_RATE)
    confirmed = [c["trial_id"] for c in records.load_search(records.project_dir(log_dir, "matcher"))["confirmations"]]

    assert confirmed == [output["trials"][0]["trial_id"]]
    assert diverged["trial_id"] not in confirmed
    assert output["best"] != diverged["trial_id"]


def test_diverged_trial_never_exported(diverged_search):
    result, log_dir = diverged_search
    diverged = by_learning_rate(json.loads(result.stdout), DIVERGING_RATE)

    exported = invoke("export", "matcher", "--logdir", log_dir, "--trial", diverged["trial_id"], "--allow-unreliable")

    assert exported.exit_code == EXIT_USAGE
    assert f"Trial {diverged['trial_id']}" in exported.stderr
    assert "failed" in exported.stderr
    assert "Traceback" not in exported.output


def test_verbose_logs_trial_traceback(diverged_search):
    result, _ = diverged_search

    assert result.exit_code in (0, EXIT_NOT_RELIABLE)
    assert "Traceback" in result.stderr
    assert "FailedTrialError" in result.stderr


# Every trial fails.


def test_all_trials_failed(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(ALWAYS_DIVERGING_SPACE)

    result = invoke("search", "matcher", "--space", space, *TINY_OPTIONS, "--logdir", tmp_path / "logs")

    assert result.exit_code == EXIT_NOT_RELIABLE
    assert result.stdout.splitlines()[-1].startswith("Every trial failed (1 of 1)")
    assert "Traceback" not in result.output


def test_all_trials_failed_no_best(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(ALWAYS_DIVERGING_SPACE)

    result = invoke("search", "matcher", "--space", space, *TINY_OPTIONS, "--logdir", tmp_path / "logs", "--json")
    output = json.loads(result.stdout)

    assert result.exit_code == EXIT_NOT_RELIABLE
    assert output["best"] is None
    assert output["confirmation"] is None


# A trial that raises, through the installed script.


def test_crashed_trial_keeps_finished_trials(crashed_search):
    (first, _), log_dir = crashed_search
    output = json.loads(first.stdout)
    completed = next(trial for trial in output["trials"] if trial["status"] == "completed")
    project = records.project_dir(log_dir, "matcher")

    assert first.returncode == EXIT_NOT_RELIABLE, first.stderr
    assert len(output["trials"]) == 2
    assert (records.trial_dir(project, completed["trial_id"]) / records.TRIAL_FILE).is_file()
    assert records.load_search(project)["status"] == "finished"


def test_crashed_trial_message_recorded(crashed_search):
    (first, _), _ = crashed_search
    output = json.loads(first.stdout)
    crashed = next(trial for trial in output["trials"] if trial["hyperparameters"]["restarts"] == 2**31)

    assert crashed["status"] == "failed"
    assert crashed["message"].startswith("ValueError: ")
    assert output["trials"][-1] == crashed
    assert f"Trial {crashed['trial_id']} failed: ValueError" in first.stderr


def test_json_stdout_one_object(crashed_search):
    # The resumed run reloads the tuner, which KerasTuner announces with print().
    runs, _ = crashed_search

    for done in runs:
        assert isinstance(json.loads(done.stdout), dict)
    assert json.loads(runs[1].stdout)["trials"] == json.loads(runs[0].stdout)["trials"]


def test_default_stderr_quiet(crashed_search):
    runs, _ = crashed_search

    for done in runs:
        lines = done.stderr.lower().splitlines()
        assert [line for line in lines if any(marker in line for marker in NOISE)] == []
        assert "traceback" not in done.stderr.lower()
