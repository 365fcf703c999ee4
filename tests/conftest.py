"""Shared fixtures: tiny search spaces that train in about a second per trial."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kvsf_tune import cli, data, records, reliability, replicas
from kvsf_tune.errors import SearchSpaceError
from kvsf_tune.search_space import load_space

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TINY_SPACE = """
description = "A tiny space for tests: one epoch, large batches."

[optimizer]
type = "Choice"
values = ["adam", "rmsprop"]

[learning_rate]
type = "Float"
min_value = 0.02
max_value = 0.2
sampling = "log"

[batch_size]
type = "Fixed"
value = 64

[epochs]
type = "Fixed"
value = 1

[restarts]
type = "Choice"
values = [1, 2]
"""

# A variant whose trials train one or two epochs with one or two restarts, in one or two seconds.
TINY_INT_SPACE = TINY_SPACE.replace(
    '[epochs]\ntype = "Fixed"\nvalue = 1', '[epochs]\ntype = "Int"\nmin_value = 1\nmax_value = 2'
).replace(
    '[restarts]\ntype = "Choice"\nvalues = [1, 2]', '[restarts]\ntype = "Int"\nmin_value = 1\nmax_value = 2'
)


@pytest.fixture(scope="session")
def tiny_space_text() -> str:
    """Return the tiny search space as TOML text."""
    return TINY_SPACE


@pytest.fixture
def space(tmp_path):
    """Write the two-epoch tiny search space to a file and return its path."""
    path = tmp_path / "space.toml"
    path.write_text(TINY_INT_SPACE)
    return path


@pytest.fixture
def tiny_space(tmp_path):
    """Write the tiny search space to a file and return its path."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SPACE)
    return path


# --- search-space files, shared by the test_search_space*.py files ---------------------------------

# A small valid space. Tests replace one table at a time, and None removes a table.
BASE_TABLES = {
    "optimizer": 'type = "Choice"\nvalues = ["sgd", "rmsprop", "adam"]',
    "momentum": (
        'type = "Choice"\nvalues = [0.0, 0.9]\nparent_name = "optimizer"\nparent_values = ["sgd"]'
    ),
    "learning_rate": 'type = "Float"\nmin_value = 0.01\nmax_value = 0.1\nsampling = "log"',
    "batch_size": 'type = "Choice"\nvalues = [8, 16]',
    "epochs": 'type = "Int"\nmin_value = 4\nmax_value = 8\nstep = 4',
    "restarts": 'type = "Fixed"\nvalue = 2',
}


def write_space(tmp_path: Path, preamble: str = "", **tables: str | None) -> Path:
    """Write `preamble` and `BASE_TABLES` to `space.toml` in `tmp_path` and return its path.

    Each keyword in `tables` replaces the table of that name, and None removes that table.
    """
    body = {**BASE_TABLES, **tables}
    text = preamble + "\n".join(
        f"[{name}]\n{table}\n" for name, table in body.items() if table is not None
    )
    path = tmp_path / "space.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(SearchSpaceError) as caught:
        load_space(path)
    return str(caught.value)


def assert_rejected(path: Path, *fragments: str) -> None:
    """Assert that `load_space` rejects `path` with one line that contains every fragment."""
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# --- a tiny exported search, shared by test_export.py and test_inference.py ------------------------
# The fixtures are session-scoped, so both files train and export it only once per session.

RUNS = 3
RESTARTS = 2
SHUFFLE_SEED = 7
DATA_SEED = 42
# 3 passes of 3 runs have a Wilson lower bound of 0.44, so this rate makes such a trial reliable.
REQUIRED_PASS_RATE = 0.4
SETTING = {"optimizer": "adam", "learning_rate": 0.05, "batch_size": 32, "epochs": 2, "restarts": RESTARTS}
INPUT_KEYS = {"voter": ("x",), "matcher": ("s1", "s2")}


@dataclasses.dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def default_ctrl_c() -> None:
    """Give a child process the default SIGINT handling, as a shell in a terminal would (a `preexec_fn`).

    CI may start the tests as a background job of a shell without job control, which ignores SIGINT.
    A child inherits that setting, so a test's SIGINT would otherwise never reach it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args) -> Outcome:
    """Run `cli.main`, which maps errors to exit codes, inside CliRunner's captured streams."""
    with CliRunner().isolation() as (stdout, stderr, _):
        code = cli.main([str(arg) for arg in args])
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code, stdout.getvalue().decode(), stderr.getvalue().decode())


# --- a tiny search on disk ----------------------------------------------------------------------


def train_setting(model: str, setting: dict, seeds, *, shuffle_seed: int, epochs: int | None = None, **fit):
    """Train a bank with one replica per seed, as a trial would, and return `(bank, result)`.

    Args:
        epochs: Epochs to train. Defaults to the setting's own.
        **fit: Passed on to `replicas.train_bank`, such as `callbacks`.
    """
    bank = replicas.build_bank(model, list(seeds))
    optimizer = replicas.make_optimizer(setting["optimizer"], setting["learning_rate"], setting.get("momentum", 0.0))
    replicas.compile_bank(bank, optimizer, steps_per_execution=25)
    x_train, y_train, x_val, y_val = data.model_dataset(model, DATA_SEED)
    result = replicas.train_bank(
        bank,
        (x_train, y_train),
        (x_val, y_val),
        batch_size=setting["batch_size"],
        epochs=setting["epochs"] if epochs is None else epochs,
        shuffle_seed=shuffle_seed,
        **fit,
    )
    return bank, result


def trial_record(model: str, trial_id: str, setting: dict, result, *, shuffle_seed: int, target: float, **fields):
    """Return the record that a search keeps for a trained bank, with `fields` overriding record fields."""
    restarts = setting["restarts"]
    runs = reliability.run_records(
        seeds=result.seeds,
        train_loss=result.train_loss,
        val_accuracy=result.val_accuracy,
        diverged=result.diverged,
        restarts=restarts,
        target=target,
    )
    summary = reliability.summarize(trial_id, setting, runs, fit_seconds=result.fit_seconds, cost=100)
    return records.TrialRecord(
        model=model,
        summary=summary,
        runs=tuple(runs),
        replica_seeds=tuple(int(seed) for seed in result.seeds),
        shuffle_seed=shuffle_seed,
        restarts=restarts,
        target=target,
        data_seed=DATA_SEED,
        setting=dict(setting),
        **fields,
    )


def train(model: str):
    seeds = [100 + replica for replica in range(RUNS * RESTARTS)]
    return train_setting(model, SETTING, seeds, shuffle_seed=SHUFFLE_SEED)


def save_trial(project: Path, trial_id: str, model: str, trained, *, target: float, failed: bool = False):
    bank, result = trained
    record = trial_record(model, trial_id, SETTING, result, shuffle_seed=SHUFFLE_SEED, target=target)
    if failed:
        summary = dataclasses.replace(record.summary, status=reliability.FAILED, message="1 of 3 runs diverged (NaN or infinite loss)")
        record = dataclasses.replace(record, summary=summary)
    folder = records.trial_dir(project, trial_id)
    records.save_trial(folder, record)
    replicas.save_bank(bank, folder / records.WEIGHTS_FILE)
    return record


def save_search(
    project: Path, model: str, trial_ids: list[str], confirmation: dict | None, *, status: str = "finished", max_trials: int | None = None
) -> None:
    records.save_search(
        project,
        {
            "model": model,
            "project": project.name,
            "log_dir": str(project.parent),
            "target": 0.5,
            "required_pass_rate": REQUIRED_PASS_RATE,
            "runs": RUNS,
            "seed": 0,
            "data_seed": DATA_SEED,
            "tuner": "random",
            "max_trials": max_trials or len(trial_ids),
            "space": f"search_spaces/{model}.toml",
            "trial_ids": trial_ids,
            "best": trial_ids[0] if trial_ids else None,
            "reliable": bool(confirmation and confirmation["reliable"]),
            "confirmation": confirmation,
            "status": status,
        },
    )


def confirmation(trial_id: str, *, passes: int) -> dict:
    bound = reliability.wilson_lower_bound(passes, RUNS)
    return {
        "trial_id": trial_id,
        "runs": RUNS,
        "passes": passes,
        "pass_rate": passes / RUNS,
        "pass_rate_lower_bound": bound,
        "reliable": bound >= REQUIRED_PASS_RATE,
    }


def expected_probabilities(log_dir: Path, model: str, record, api: str) -> np.ndarray:
    """Predict the validation split with the chosen run extracted in memory, without the export code."""
    folder = records.trial_dir(records.project_dir(log_dir, model), "00")
    bank = replicas.load_bank(model, record.replica_seeds, folder / records.WEIGHTS_FILE)
    losses = [run.train_loss for run in record.runs]
    plain = replicas.extract(bank, record.runs[int(np.argmin(losses))].replica, api=api)
    _, _, x_val, _ = data.model_dataset(model, DATA_SEED)
    return plain.predict(x_val[0] if model == "voter" else list(x_val), verbose=0).reshape(-1)


@pytest.fixture(scope="session")
def export_search(tmp_path_factory):
    """Write a voter search (trials 00 reliable, 01 unreliable, 02 failed) and a matcher search.

    Also voter searches whose confirmation failed (`unconfirmed`), whose only trial failed
    (`all_failed`), without trials (`empty`) and stopped after 1 of 4 trials (`stopped`).
    """
    log_dir = tmp_path_factory.mktemp("logs")
    trials = {}
    for model in ("voter", "matcher"):
        project = records.project_dir(log_dir, model)
        trained = train(model)
        trials[model] = save_trial(project, "00", model, trained, target=0.5)
        save_trial(project, "01", model, trained, target=1.01)
        save_trial(project, "02", model, trained, target=0.5, failed=True)
        save_search(project, model, ["00", "01", "02"], confirmation("00", passes=RUNS))

    voter = records.project_dir(log_dir, "voter")
    for name, copied, confirmed in (("unconfirmed", "trial_00", confirmation("00", passes=0)), ("all_failed", "trial_02", None)):
        shutil.copytree(voter / copied, log_dir / name / copied)
        save_search(log_dir / name, "voter", [copied.removeprefix("trial_")], confirmed)
    save_search(log_dir / "empty", "voter", [], None)
    shutil.copytree(voter / "trial_00", log_dir / "stopped" / "trial_00")
    save_search(log_dir / "stopped", "voter", ["00"], None, status="running", max_trials=4)
    return log_dir, trials


@pytest.fixture(scope="session")
def exported(export_search, tmp_path_factory):
    """Export five files through the CLI and store the validation split and reference predictions."""
    log_dir, trials = export_search
    folder = tmp_path_factory.mktemp("exported")
    cases = {
        "voter-sequential": ("voter", "keras", "sequential", folder / "voter.keras"),
        "voter-functional": ("voter", "keras", "functional", folder / "voter_functional.keras"),
        "matcher": ("matcher", "keras", "sequential", folder / "matcher.keras"),
        "voter-savedmodel": ("voter", "savedmodel", "sequential", folder / "voter_savedmodel"),
        "matcher-savedmodel": ("matcher", "savedmodel", "sequential", folder / "matcher_savedmodel"),
    }
    result = {}
    for name, (model, format, api, out) in cases.items():
        outcome = run_cli("export", model, "--logdir", log_dir, "--out", out, "--format", format, "--api", api)
        assert outcome.code == 0, outcome.stderr
        card_path = folder / f"{out.stem if format == 'keras' else out.name}.card.json"
        arrays = folder / f"{name}.npz"
        _, _, x_val, y_val = data.model_dataset(model, DATA_SEED)
        expected = expected_probabilities(log_dir, model, trials[model], api)
        np.savez(arrays, y=y_val, expected=expected, **dict(zip(INPUT_KEYS[model], x_val)))
        result[name] = {"model": model, "format": format, "path": out, "card": json.loads(card_path.read_text()), "arrays": arrays, "stdout": outcome.stdout}
    return result
