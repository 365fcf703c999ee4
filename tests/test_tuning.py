"""End-to-end tests of the reliability search on tiny search spaces."""

from __future__ import annotations

import json

import keras_tuner
import pytest

import kvsf_tune
from kvsf_tune import records
from kvsf_tune.cli import main
from kvsf_tune.hypermodels import OBJECTIVE, MatcherHyperModel
from kvsf_tune.search_space import load_space

TRIAL_KEYS = {
    "trial_id",
    "hyperparameters",
    "status",
    "runs",
    "passes",
    "pass_rate",
    "pass_rate_lower_bound",
    "val_accuracy",
    "fit_seconds",
    "cost",
}


def _search_json(capsys, tiny_space, log_dir, *extra) -> tuple[int, dict]:
    code = main(
        [
            "search", "matcher", "--space", str(tiny_space), "--max-trials", "2", "--runs", "4",
            "--confirmation-runs", "4", "--target", "0.7", "--required-pass-rate", "0.1", "--logdir", str(log_dir), "--json", *extra,
        ]
    )
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory, tiny_space_text):
    """Run one tiny search through the Python API and return its result and log dir."""
    log_dir = tmp_path_factory.mktemp("logs")
    space = log_dir / "tiny.toml"
    space.write_text(tiny_space_text)
    result = kvsf_tune.search(
        "matcher",
        space=space,
        max_trials=2,
        runs=4,
        confirmation_runs=4,
        # One epoch leaves some runs on the 0.72-0.74 plateau, so the bar is low enough for 2 of 4 runs.
        target=0.7,
        required_pass_rate=0.1,
        log_dir=log_dir,
    )
    return result, log_dir


def test_search_json_schema(capsys, tiny_space, tmp_path):
    code, output = _search_json(capsys, tiny_space, tmp_path / "logs")

    assert code in (0, 3)
    assert set(output) == {"model", "trials", "best", "reliable", "confirmation"}
    assert output["model"] == "matcher"
    assert len(output["trials"]) == 2
    assert TRIAL_KEYS <= set(output["trials"][0])
    assert set(output["trials"][0]["val_accuracy"]) == {"mean", "min", "max"}


def test_search_confirms_on_fresh_seeds(finished_search):
    result, log_dir = finished_search
    project = records.project_dir(log_dir, "matcher")
    trial_seeds = {seed for trial in records.load_trials(project) for seed in trial.replica_seeds}
    confirmation = records.load_trial(records.confirmation_dir(project, result.confirmation["trial_id"]))

    assert result.confirmation["runs"] == 4
    assert trial_seeds.isdisjoint(confirmation.replica_seeds)


def test_search_records_each_run(finished_search):
    result, log_dir = finished_search
    trial = records.load_trial(records.trial_dir(records.project_dir(log_dir, "matcher"), result.trials[0].trial_id))

    assert len(trial.runs) == 4
    assert len(trial.replica_seeds) == 4 * trial.restarts
    assert all(run.seed in run.restart_seeds for run in trial.runs)
    assert sum(run.passed for run in trial.runs) == trial.summary.passes


def test_trials_command_agrees_with_search(finished_search, capsys):
    result, log_dir = finished_search

    code = main(["trials", "matcher", "--logdir", str(log_dir), "--json"])
    listed = json.loads(capsys.readouterr().out)

    assert code == 0
    assert listed == json.loads(json.dumps(result.to_json()))


def test_trials_table_marks_reliable_trials(finished_search, capsys):
    _, log_dir = finished_search

    main(["trials", "matcher", "--logdir", str(log_dir)])
    output = capsys.readouterr().out

    assert "bound" in output
    assert "reliable" in output


def test_same_seed_reproduces_search(tmp_path, tiny_space):
    options = dict(space=tiny_space, max_trials=2, runs=4, confirmation_runs=4, target=0.7, required_pass_rate=0.1, seed=5)
    first = kvsf_tune.search("matcher", log_dir=tmp_path / "a", **options)
    second = kvsf_tune.search("matcher", log_dir=tmp_path / "b", **options)

    def runs_of(result, log_dir):
        project = records.project_dir(log_dir, "matcher")
        return {t.summary.trial_id: [(r.seed, r.val_accuracy) for r in t.runs] for t in records.load_trials(project)}

    assert [t.hyperparameters for t in first.trials] == [t.hyperparameters for t in second.trials]
    assert runs_of(first, tmp_path / "a") == runs_of(second, tmp_path / "b")


def test_hypermodel_fit_returns_objective(tiny_space):
    hypermodel = MatcherHyperModel(load_space(tiny_space), runs=2, target=0.95)
    hp = keras_tuner.HyperParameters()

    bank = hypermodel.build(hp)
    metrics = hypermodel.fit(hp, bank)

    assert bank.replicas == 2 * hp.values["restarts"]
    assert 0.0 <= metrics[OBJECTIVE] <= 1.0
    assert metrics["cost"] > 0


def test_resume_with_other_runs_is_rejected(finished_search, tiny_space, capsys):
    _, log_dir = finished_search

    code = main(["search", "matcher", "--space", str(tiny_space), "--runs", "5", "--logdir", str(log_dir)])
    error = capsys.readouterr().err

    assert code == 2
    assert "runs=4" in error
    assert "Traceback" not in error


def _first_settings(tmp_path, seed: int, count: int = 6) -> list[dict]:
    from kvsf_tune.search_space import load_default_space
    from kvsf_tune.tuner import make_oracle

    hypermodel = MatcherHyperModel.__new__(MatcherHyperModel)
    hypermodel.space = load_default_space("matcher")
    oracle = make_oracle("random", hypermodel, max_trials=count, seed=seed)
    # The oracle saves each trial it creates, so it needs a folder (a private KerasTuner call).
    oracle._set_project_dir(str(tmp_path), f"seed_{seed}")
    return [oracle.create_trial(f"tuner{i}").hyperparameters.values for i in range(count)]


def test_nearby_seeds_give_different_settings(tmp_path):
    from_seed_zero = _first_settings(tmp_path, 0)
    from_seed_one = _first_settings(tmp_path, 1)

    shared = [setting for setting in from_seed_one if setting in from_seed_zero]

    assert shared == []


def test_oracle_seed_is_reproducible(tmp_path):
    assert _first_settings(tmp_path / "a", 3) == _first_settings(tmp_path / "b", 3)


def test_too_few_runs_are_reported(capsys, tiny_space, tmp_path):
    code = main(
        ["search", "matcher", "--space", str(tiny_space), "--max-trials", "1", "--runs", "2",
         "--confirmation-runs", "2", "--logdir", str(tmp_path / "logs")]
    )
    captured = capsys.readouterr()

    assert code == 3
    assert "--runs 2" in captured.err
    assert "Use --runs 35 or more" in captured.out
