"""Tests of `SearchSpace`: loading, shipped files, declaring on KerasTuner, grid size and domains.

The checks of one entry and of a whole file are tested in test_search_space_entry.py and
test_search_space_file.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_TABLES, write_space

from kvsf_tune.errors import EXIT_USAGE, SearchSpaceError
from kvsf_tune.search_space import (
    REQUIRED,
    HyperparameterSpec,
    SearchSpace,
    default_space_path,
    load_default_space,
    load_space,
    validate_with_keras_tuner,
)


# Loading.


def test_load_space_accepts_base(tmp_path):
    space = load_space(write_space(tmp_path))

    assert [entry.name for entry in space.entries] == [*REQUIRED, "momentum"]
    assert space.description == ""


def test_load_space_orders_parent_first(tmp_path):
    path = tmp_path / "space.toml"
    tables = {"momentum": BASE_TABLES["momentum"], **BASE_TABLES}
    path.write_text("\n".join(f"[{name}]\n{table}\n" for name, table in tables.items()))

    names = [entry.name for entry in load_space(path).entries]

    assert names.index("optimizer") < names.index("momentum")


# Shipped files.


@pytest.mark.parametrize("model", ["voter", "matcher", "example"])
def test_default_space_path_finds_file(model):
    path = default_space_path(model)

    assert path.name == f"{model}.toml"
    assert path.is_file()


def test_default_space_path_rejects_unknown_model():
    with pytest.raises(SearchSpaceError, match="no default search space for model \"voting\""):
        default_space_path("voting")


def test_search_space_error_is_usage_error():
    assert SearchSpaceError.exit_code == EXIT_USAGE


@pytest.mark.parametrize("model", ["voter", "matcher"])
def test_load_default_space_declares_on_keras_tuner(model):
    space = load_default_space(model)
    hp = space.hyperparameters()

    assert [parameter.name for parameter in hp.space] == [entry.name for entry in space.entries]
    assert set(space.declare(hp)) == {*REQUIRED, "momentum"}
    assert space.description


def test_example_space_passes_keras_tuner():
    space = load_default_space("example")

    validate_with_keras_tuner(space)

    assert space.declare(space.hyperparameters())["learning_rate"] == 0.01


def test_load_space_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from kvsf_tune.search_space import load_default_space\n"
        "load_default_space('matcher').domains()\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))\n"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


# Declaring on KerasTuner.


def test_declare_skips_momentum_for_adam():
    space = load_default_space("matcher")
    hp = space.hyperparameters()
    hp.values["optimizer"] = "adam"

    setting = space.declare(hp)

    assert setting["optimizer"] == "adam"
    assert not hp.is_active("momentum")
    assert setting["momentum"] == 0.0


def test_declare_uses_momentum_for_sgd():
    space = load_default_space("matcher")
    hp = space.hyperparameters()
    hp.values["momentum"] = 0.9

    setting = space.declare(hp)

    assert setting["optimizer"] == "sgd"
    assert hp.is_active("momentum")
    assert setting["momentum"] == 0.9


def test_declare_returns_defaults(tmp_path):
    import keras_tuner

    space = load_space(write_space(tmp_path, momentum=None))

    setting = space.declare(keras_tuner.HyperParameters())

    assert setting == {
        "optimizer": "sgd",
        "learning_rate": 0.01,
        "batch_size": 8,
        "epochs": 4,
        "restarts": 2,
        "momentum": 0.0,
    }


def test_validate_with_keras_tuner_rejects_bad_arguments(tmp_path):
    entry = HyperparameterSpec("batch_size", "Choice", {"values": [8, 16], "default": 32})
    space = SearchSpace(tmp_path / "space.toml", (entry,))

    with pytest.raises(SearchSpaceError, match="KerasTuner rejected"):
        validate_with_keras_tuner(space)


# Grid size.


def test_grid_size_none_for_float_without_step():
    assert load_default_space("matcher").grid_size() is None


def test_grid_size_counts_conditional_branches():
    space = load_default_space("matcher").with_fixed("learning_rate", 0.01)

    # sgd with 2 momentum values, then rmsprop and adam, times 4 batch sizes, 4 epochs, 3 restarts.
    assert space.grid_size() == (2 + 1 + 1) * 4 * 4 * 3


def test_grid_size_counts_float_step(tmp_path):
    table = 'type = "Float"\nmin_value = 0.01\nmax_value = 0.05\nstep = 0.01'
    space = load_space(write_space(tmp_path, learning_rate=table))

    assert space.grid_size() == 4 * 5 * 2 * 2


def grid_search_trials(space: SearchSpace, tmp_path: Path) -> int:
    import keras_tuner

    oracle = keras_tuner.oracles.GridSearchOracle(
        objective=keras_tuner.Objective("loss", "min"),
        hyperparameters=space.hyperparameters(),
        max_trials=1000,
    )
    # A Tuner sets the project directory. Without one, the oracle cannot save its trials.
    oracle._set_project_dir(str(tmp_path), "grid")

    trials = 0
    with contextlib.redirect_stdout(io.StringIO()):
        while (trial := oracle.create_trial("tuner0")).status == "RUNNING":
            oracle.update_trial(trial.trial_id, {"loss": 1.0})
            oracle.end_trial(trial)
            trials += 1
    return trials


# KerasTuner 1.4.8's oracle calls threading.currentThread(), which Python 3.11 deprecates.
@pytest.mark.filterwarnings("ignore:currentThread:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:getName:DeprecationWarning")
@pytest.mark.parametrize(
    "epochs",
    [
        'type = "Int"\nmin_value = 4\nmax_value = 8\nstep = 4',
        'type = "Int"\nmin_value = 4\nmax_value = 16\nstep = 4\ndefault = 6',
        'type = "Int"\nmin_value = 1\nmax_value = 30\nsampling = "reverse_log"',
    ],
)
def test_grid_size_matches_grid_search_oracle(tmp_path, epochs):
    space = load_space(write_space(tmp_path, epochs=epochs)).with_fixed("learning_rate", 0.01)

    assert space.grid_size() == grid_search_trials(space, tmp_path)


# Domains.


def test_domains_keep_numbers():
    domains = load_default_space("matcher").domains()

    assert domains["learning_rate"] == {"type": "Float", "min_value": 0.003, "max_value": 0.3}
    assert domains["batch_size"] == {"type": "Choice", "values": [8, 16, 32, 64]}
    assert domains["epochs"] == {"type": "Int", "values": [4, 8, 12, 16]}
    assert domains["momentum"] == {"type": "Choice", "values": [0.0, 0.9]}
    assert all(isinstance(value, int) for value in domains["epochs"]["values"])
    assert isinstance(domains["learning_rate"]["min_value"], float)
    assert json.loads(json.dumps(domains)) == domains


def test_domains_give_interval_for_wide_int(tmp_path):
    space = load_space(write_space(tmp_path, epochs='type = "Int"\nmin_value = 1\nmax_value = 100'))

    assert space.domains()["epochs"] == {"type": "Int", "min_value": 1, "max_value": 100}


def test_domains_list_fixed_and_boolean(tmp_path):
    entries = (
        HyperparameterSpec("restarts", "Fixed", {"value": 2}),
        HyperparameterSpec("shuffle", "Boolean", {}),
    )
    space = SearchSpace(tmp_path / "space.toml", entries)

    assert space.domains() == {
        "restarts": {"type": "Fixed", "values": [2]},
        "shuffle": {"type": "Boolean", "values": [False, True]},
    }
    assert space.grid_size() == 2


# with_fixed.


def test_with_fixed_replaces_entry():
    space = load_default_space("voter").with_fixed("epochs", 40)
    epochs = next(entry for entry in space.entries if entry.name == "epochs")

    assert epochs == HyperparameterSpec("epochs", "Fixed", {"value": 40})
    assert len(space.entries) == len(load_default_space("voter").entries)


def test_with_fixed_drops_unreachable_momentum():
    space = load_default_space("voter").with_fixed("optimizer", "adam")

    assert "momentum" not in [entry.name for entry in space.entries]


def test_with_fixed_keeps_momentum_for_sgd():
    space = load_default_space("voter").with_fixed("optimizer", "sgd")
    momentum = next(entry for entry in space.entries if entry.name == "momentum")

    assert momentum.parent_values == ("sgd",)


def test_with_fixed_keeps_condition_of_momentum():
    space = load_default_space("voter").with_fixed("momentum", 0.5)
    momentum = next(entry for entry in space.entries if entry.name == "momentum")

    assert momentum.parent_name == "optimizer"
    assert momentum.arguments == {"value": 0.5}


def test_with_fixed_rejects_invalid_value():
    with pytest.raises(SearchSpaceError, match=r"\[epochs\] value 0 is not a positive integer"):
        load_default_space("voter").with_fixed("epochs", 0)


def test_with_fixed_rejects_unknown_entry(tmp_path):
    space = load_space(write_space(tmp_path, momentum=None))

    with pytest.raises(SearchSpaceError, match=r"cannot fix \[momentum\]"):
        space.with_fixed("momentum", 0.9)
