"""The tuner: each of KerasTuner's oracles drives replica-bank trials to the end of a search."""

from __future__ import annotations

import json
from pathlib import Path

import keras_tuner
import pytest

from kvsf_tune import records, tuning
from kvsf_tune.errors import UsageError
from kvsf_tune.hypermodels import HYPERMODELS
from kvsf_tune.search_space import default_space_path, load_space
from kvsf_tune.tuner import (
    HYPERBAND_FACTOR,
    OBJECTIVE,
    bayesian_initial_points,
    hyperband_epochs,
    hyperband_max_epochs,
    make_oracle,
)

# A 4-run trial with 2 passes is reliable at these values, so every search also confirms.
SMALL = {"runs": 4, "confirmation_runs": 4, "target": 0.7, "required_pass_rate": 0.1}

HYPERBAND_SPACE_EPOCHS = '[epochs]\ntype = "Int"\nmin_value = 1\nmax_value = 3'

OBJECTIVE_MAX = keras_tuner.Objective(OBJECTIVE, direction="max")

ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
}


def keras_tuner_trials(project: Path) -> dict[str, dict]:
    """Return KerasTuner's own trial files of a search, by trial id."""
    found = {}
    for path in project.glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        found[trial["trial_id"]] = trial
    return found


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_make_oracle_kind(space, name):
    hypermodel = HYPERMODELS["matcher"](load_space(space), runs=4, target=0.7, seed=0, data_seed=42)

    oracle = make_oracle(name, hypermodel, max_trials=3, seed=0)

    assert type(oracle) is ORACLES[name]
    assert oracle.objective.name == OBJECTIVE
    assert oracle.objective.direction == "max"


def test_make_oracle_unknown_name(space):
    hypermodel = HYPERMODELS["matcher"](load_space(space), runs=4, target=0.7, seed=0, data_seed=42)

    with pytest.raises(UsageError, match="'annealing'"):
        make_oracle("annealing", hypermodel, max_trials=3, seed=0)


@pytest.mark.parametrize(
    "epochs, expected",
    [('type = "Int"\nmin_value = 2\nmax_value = 9\nstep = 1', 9), ('type = "Choice"\nvalues = [5, 20, 10]', 20)],
)
def test_hyperband_budget_is_largest_epochs(space, epochs, expected):
    text = space.read_text()
    space.write_text(text.replace('type = "Int"\nmin_value = 1\nmax_value = 2', epochs, 1))

    assert hyperband_max_epochs(load_space(space)) == expected


@pytest.mark.parametrize("max_epochs", [1, 2, 3, 4, 9, 10, 16, 27, 40])
def test_hyperband_epochs_match_keras_tuner(max_epochs):
    oracle = keras_tuner.oracles.HyperbandOracle(objective=OBJECTIVE_MAX, max_epochs=max_epochs, factor=HYPERBAND_FACTOR)
    brackets = oracle._get_num_brackets()
    expected = {oracle._get_epochs(bracket, round_) for bracket in range(brackets) for round_ in range(bracket + 1)}

    assert hyperband_epochs(max_epochs) == sorted(expected)


def test_bayesian_search_completes(space, tmp_path):
    result = tuning.search("matcher", space=space, max_trials=3, log_dir=tmp_path, **SMALL)

    assert len(result.trials) == 3
    assert {summary.status for summary in result.trials} == {"completed"}
    assert result.confirmation is not None
    assert set(keras_tuner_trials(result.project_dir)) == {summary.trial_id for summary in result.trials}


@pytest.fixture(scope="module")
def hyperband_search(tmp_path_factory, tiny_space_text):
    log_dir = tmp_path_factory.mktemp("hyperband")
    space = log_dir / "space.toml"
    space.write_text(tiny_space_text.replace('[epochs]\ntype = "Fixed"\nvalue = 1', HYPERBAND_SPACE_EPOCHS))
    return tuning.search("matcher", space=space, tuner="hyperband", log_dir=log_dir, **SMALL)


def test_hyperband_records_trained_epochs(hyperband_search):
    stored = keras_tuner_trials(hyperband_search.project_dir)

    assert set(stored) == {summary.trial_id for summary in hyperband_search.trials}
    for summary in hyperband_search.trials:
        values = stored[summary.trial_id]["hyperparameters"]["values"]
        assert summary.hyperparameters["epochs"] == values["tuner/epochs"], summary.trial_id


def test_hyperband_epochs_vary(hyperband_search):
    epochs = {summary.hyperparameters["epochs"] for summary in hyperband_search.trials}

    assert max(epochs) == 3
    assert min(epochs) < 3


def test_hyperband_hides_bookkeeping_values(hyperband_search):
    for summary in hyperband_search.trials:
        assert not [name for name in summary.hyperparameters if name.startswith("tuner/")], summary.trial_id


def test_hyperband_records_every_trial(hyperband_search):
    project = hyperband_search.project_dir

    for summary in hyperband_search.trials:
        record = records.load_trial(records.trial_dir(project, summary.trial_id))
        assert record.summary.hyperparameters == summary.hyperparameters


def test_hyperband_experiment_lists_budgets(hyperband_search):
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    from kvsf_tune import tensorboard

    configs = [
        plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content).experiment
        for value in tensorboard._summary_values(hyperband_search.project_dir)
        if value.tag == metadata.EXPERIMENT_TAG
    ]
    (epochs,) = [info for info in configs[0].hparam_infos if info.name == "epochs"]
    budgets = [value.number_value for value in epochs.domain_discrete.values]

    assert len(configs) == 1
    assert budgets == [1, 3]
    assert {summary.hyperparameters["epochs"] for summary in hyperband_search.trials} <= set(budgets)


@pytest.mark.parametrize("max_trials, expected", [(16, 8), (4, 3), (1, 3), (100, 18)])
def test_bayesian_initial_points(max_trials, expected):
    space = load_space(default_space_path("matcher"))

    assert len(space.hyperparameters().space) == 6
    assert bayesian_initial_points(space, max_trials) == expected


def test_bayesian_oracle_gets_initial_points(space):
    hypermodel = HYPERMODELS["matcher"](load_space(space), runs=4, target=0.7, seed=0, data_seed=42)

    oracle = make_oracle("bayesian", hypermodel, max_trials=8, seed=0)

    assert oracle.num_initial_points == 4
