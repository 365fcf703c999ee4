"""Tests of search-space files: loading, every validation rule, and declaring on KerasTuner."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kvsf_tune.errors import EXIT_USAGE, SearchSpaceError
from kvsf_tune.search_space import (
    OPTIMIZERS,
    REQUIRED,
    HyperparameterSpec,
    SearchSpace,
    default_space_path,
    load_default_space,
    load_space,
    validate_with_keras_tuner,
)

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
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# The file.


def test_load_space_accepts_base(tmp_path):
    space = load_space(write_space(tmp_path))

    assert [entry.name for entry in space.entries] == [*REQUIRED, "momentum"]
    assert space.description == ""


def test_load_space_reads_description(tmp_path):
    space = load_space(write_space(tmp_path, 'description = "Small space."\n'))

    assert space.description == "Small space."


def test_load_space_rejects_missing_file(tmp_path):
    assert_rejected(tmp_path / "absent.toml", "not found", "example.toml")


def test_load_space_rejects_directory(tmp_path):
    assert_rejected(tmp_path, "failed to read")


def test_load_space_rejects_non_utf8(tmp_path):
    path = tmp_path / "space.toml"
    path.write_bytes(b"[optimizer]\ntype = \"\xff\"\n")

    assert_rejected(path, "invalid UTF-8")


def test_load_space_rejects_invalid_toml(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('[optimizer]\ntype = Choice\n')

    assert_rejected(path, "invalid TOML", "line 2, column 8")


@pytest.mark.parametrize("text", ["", "# only a comment\n", 'description = "Nothing."\n'])
def test_load_space_rejects_empty_file(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)

    assert_rejected(path, "no hyperparameters", "optimizer")


def test_load_space_rejects_top_level_value(tmp_path):
    path = write_space(tmp_path, "seed = 3\n")

    assert_rejected(path, "seed = 3", "not a table")


def test_load_space_rejects_table_array(tmp_path):
    path = write_space(tmp_path, '[[optimizers]]\nname = "sgd"\n')

    assert_rejected(path, "optimizers", "not a table")


def test_load_space_rejects_non_string_description(tmp_path):
    assert_rejected(write_space(tmp_path, "description = 3\n"), "description 3", "string")


def test_load_space_rejects_unknown_name(tmp_path):
    path = write_space(tmp_path, dropout='type = "Float"\nmin_value = 0.0\nmax_value = 0.5')

    assert_rejected(path, "[dropout]", "unknown hyperparameter", ", ".join(REQUIRED))


def test_load_space_rejects_missing_required(tmp_path):
    path = write_space(tmp_path, epochs=None, restarts=None)

    assert_rejected(path, "[epochs], [restarts]", "missing")


# Keys and types of one entry.


def test_load_space_rejects_unknown_key(tmp_path):
    table = 'type = "Float"\nmni_value = 0.01\nmin_value = 0.01\nmax_value = 0.1'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", "mni_value = 0.01", "Allowed keys", "min_value")


def test_load_space_rejects_nested_table(tmp_path):
    table = BASE_TABLES["learning_rate"] + "\n[learning_rate.extra]\nx = 1"
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", "extra", "Allowed keys")


def test_load_space_rejects_missing_type(tmp_path):
    path = write_space(tmp_path, restarts="value = 2")

    assert_rejected(path, "[restarts]", "no type", "Int, Choice, Fixed")


def test_load_space_rejects_unknown_type(tmp_path):
    path = write_space(tmp_path, epochs='type = "Integer"\nmin_value = 4\nmax_value = 8')

    assert_rejected(path, "[epochs]", 'type "Integer"', "Choice, Int, Float, Boolean, Fixed")


def test_load_space_rejects_missing_argument(tmp_path):
    path = write_space(tmp_path, epochs='type = "Int"\nmin_value = 4')

    assert_rejected(path, "[epochs]", "no max_value")


@pytest.mark.parametrize("name", ["batch_size", "epochs", "restarts"])
def test_load_space_rejects_float_type_for_counts(tmp_path, name):
    path = write_space(tmp_path, **{name: 'type = "Float"\nmin_value = 1.0\nmax_value = 4.0'})

    assert_rejected(path, f"[{name}]", 'type "Float"', "Int, Choice, Fixed")


def test_load_space_rejects_int_learning_rate(tmp_path):
    path = write_space(tmp_path, learning_rate='type = "Int"\nmin_value = 1\nmax_value = 2')

    assert_rejected(path, "[learning_rate]", 'type "Int"', "Float, Choice, Fixed")


def test_load_space_rejects_boolean_with_values(tmp_path):
    path = write_space(tmp_path, momentum='type = "Boolean"\nvalues = [true, false]')

    assert_rejected(path, "[momentum]", "values = [true, false]", "type Boolean")


def test_load_space_rejects_boolean_type(tmp_path):
    path = write_space(tmp_path, momentum='type = "Boolean"')

    assert_rejected(path, "[momentum]", 'type "Boolean"', "not allowed")


# Choice values.


def test_load_space_rejects_empty_values(tmp_path):
    path = write_space(tmp_path, batch_size='type = "Choice"\nvalues = []')

    assert_rejected(path, "[batch_size]", "values []", "non-empty list")


def test_load_space_rejects_values_not_list(tmp_path):
    path = write_space(tmp_path, batch_size='type = "Choice"\nvalues = 8')

    assert_rejected(path, "[batch_size]", "values 8", "non-empty list")


def test_load_space_rejects_duplicated_values(tmp_path):
    path = write_space(tmp_path, batch_size='type = "Choice"\nvalues = [8, 16, 8]')

    assert_rejected(path, "[batch_size]", "[8, 16, 8]", "repeat")


def test_load_space_rejects_mixed_value_types(tmp_path):
    table = 'type = "Choice"\nvalues = [0, 0.9]\nparent_name = "optimizer"\nparent_values = ["sgd"]'
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", "[0, 0.9]", "float, int")


def test_load_space_rejects_non_scalar_values(tmp_path):
    path = write_space(tmp_path, batch_size='type = "Choice"\nvalues = [[8], [16]]')

    assert_rejected(path, "[batch_size]", "values contains [8]")


def test_load_space_rejects_default_not_in_values(tmp_path):
    path = write_space(tmp_path, batch_size='type = "Choice"\nvalues = [8, 16]\ndefault = 32')

    assert_rejected(path, "[batch_size]", "default 32", "[8, 16]")


def test_load_space_rejects_default_of_other_type(tmp_path):
    path = write_space(tmp_path, batch_size='type = "Choice"\nvalues = [8, 16]\ndefault = 8.0')

    assert_rejected(path, "[batch_size]", "default 8.0")


def test_load_space_rejects_ordered_strings(tmp_path):
    table = 'type = "Choice"\nvalues = ["sgd", "adam"]\nordered = true'
    path = write_space(tmp_path, optimizer=table)

    assert_rejected(path, "[optimizer]", "ordered = true", '["sgd", "adam"]')


def test_load_space_rejects_nan_value(tmp_path):
    path = write_space(tmp_path, learning_rate='type = "Fixed"\nvalue = nan')

    assert_rejected(path, "[learning_rate]", "NaN")


# Ranges.


def test_load_space_rejects_min_above_max(tmp_path):
    table = 'type = "Float"\nmin_value = 0.5\nmax_value = 0.1'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", "min_value 0.5", "max_value 0.1", "Swap")


def test_load_space_rejects_string_bound(tmp_path):
    table = 'type = "Float"\nmin_value = "0.01"\nmax_value = 0.1'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", 'min_value "0.01"', "not a finite number")


def test_load_space_rejects_float_int_bound(tmp_path):
    path = write_space(tmp_path, epochs='type = "Int"\nmin_value = 4.5\nmax_value = 8')

    assert_rejected(path, "[epochs]", "min_value 4.5", "not an integer")


@pytest.mark.parametrize("step", [0, -4])
def test_load_space_rejects_step_not_positive(tmp_path, step):
    table = f'type = "Int"\nmin_value = 4\nmax_value = 8\nstep = {step}'
    path = write_space(tmp_path, epochs=table)

    assert_rejected(path, "[epochs]", f"step {step}", "not above 0")


def test_load_space_rejects_step_above_range(tmp_path):
    path = write_space(tmp_path, epochs='type = "Int"\nmin_value = 4\nmax_value = 8\nstep = 10')

    assert_rejected(path, "[epochs]", "step 10", "larger than the range", "at most 4")


def test_load_space_rejects_log_step_not_above_one(tmp_path):
    table = 'type = "Float"\nmin_value = 0.01\nmax_value = 0.1\nsampling = "log"\nstep = 0.5'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", "step 0.5", "above 1")


def test_load_space_rejects_log_step_above_range(tmp_path):
    table = 'type = "Float"\nmin_value = 0.01\nmax_value = 0.1\nsampling = "log"\nstep = 100'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", "step 100.0", "range factor")


@pytest.mark.parametrize("sampling", ["log", "reverse_log"])
def test_load_space_rejects_log_sampling_from_zero(tmp_path, sampling):
    table = (
        f'type = "Float"\nmin_value = 0.0\nmax_value = 0.9\nsampling = "{sampling}"\n'
        'parent_name = "optimizer"\nparent_values = ["sgd"]'
    )
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", f'sampling "{sampling}"', "min_value is 0.0")


def test_load_space_rejects_unknown_sampling(tmp_path):
    table = 'type = "Float"\nmin_value = 0.01\nmax_value = 0.1\nsampling = "logarithmic"'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", '"logarithmic"', "linear, log, reverse_log")


def test_load_space_rejects_default_outside_range(tmp_path):
    table = 'type = "Float"\nmin_value = 0.01\nmax_value = 0.1\ndefault = 0.5'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", "default 0.5", "outside")


# Rules of the known hyperparameters.


def test_load_space_rejects_unknown_optimizer(tmp_path):
    path = write_space(tmp_path, optimizer='type = "Choice"\nvalues = ["sgd", "nadam"]')

    assert_rejected(path, "[optimizer]", '"nadam"', ", ".join(OPTIMIZERS))


def test_load_space_rejects_numeric_optimizer(tmp_path):
    path = write_space(tmp_path, optimizer='type = "Fixed"\nvalue = 1', momentum=None)

    assert_rejected(path, "[optimizer]", "value 1", "not a supported optimizer")


@pytest.mark.parametrize(
    ("name", "table", "shown"),
    [
        ("batch_size", 'type = "Choice"\nvalues = [0, 8]', "value 0 in values"),
        ("batch_size", 'type = "Choice"\nvalues = [8.0, 16.0]', "value 8.0 in values"),
        ("epochs", 'type = "Int"\nmin_value = 0\nmax_value = 8', "min_value 0"),
        ("epochs", 'type = "Int"\nmin_value = -8\nmax_value = -4', "min_value -8"),
        ("restarts", 'type = "Fixed"\nvalue = 2.5', "value 2.5"),
        ("restarts", 'type = "Fixed"\nvalue = true', "value true"),
        ("restarts", 'type = "Fixed"\nvalue = "4"', 'value "4"'),
    ],
)
def test_load_space_rejects_count_not_positive_int(tmp_path, name, table, shown):
    path = write_space(tmp_path, **{name: table})

    assert_rejected(path, f"[{name}]", shown, "not a positive integer")


@pytest.mark.parametrize(
    ("table", "shown"),
    [
        ('type = "Choice"\nvalues = [0.0, 0.1]', "value 0.0 in values"),
        ('type = "Fixed"\nvalue = -0.1', "value -0.1"),
        ('type = "Float"\nmin_value = 0.0\nmax_value = 0.1', "min_value 0.0"),
    ],
)
def test_load_space_rejects_learning_rate_not_positive(tmp_path, table, shown):
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", shown, "above 0")


@pytest.mark.parametrize(
    ("table", "shown"),
    [
        ('type = "Choice"\nvalues = [0.0, 1.0]', "value 1.0 in values"),
        ('type = "Float"\nmin_value = 0.0\nmax_value = 1.5', "max_value 1.5"),
        ('type = "Fixed"\nvalue = -0.5', "value -0.5"),
    ],
)
def test_load_space_rejects_momentum_out_of_range(tmp_path, table, shown):
    condition = '\nparent_name = "optimizer"\nparent_values = ["sgd"]'
    path = write_space(tmp_path, momentum=table + condition)

    assert_rejected(path, "[momentum]", shown, "up to but not including 1")


# Conditions.


def test_load_space_rejects_unknown_parent(tmp_path):
    table = 'type = "Choice"\nvalues = [0.0, 0.9]\nparent_name = "opt"\nparent_values = ["sgd"]'
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", 'parent_name "opt"', "not an entry")


def test_load_space_rejects_unknown_parent_value(tmp_path):
    table = (
        'type = "Choice"\nvalues = [0.0, 0.9]\nparent_name = "optimizer"\nparent_values = ["SGD"]'
    )
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", 'parent_values entry "SGD"', '["sgd", "rmsprop", "adam"]')


def test_load_space_rejects_parent_name_alone(tmp_path):
    path = write_space(tmp_path, momentum='type = "Fixed"\nvalue = 0.9\nparent_name = "optimizer"')

    assert_rejected(path, "[momentum]", "only one of parent_name and parent_values")


def test_load_space_rejects_self_parent(tmp_path):
    table = 'type = "Fixed"\nvalue = 0.9\nparent_name = "momentum"\nparent_values = [0.9]'
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", 'parent_name "momentum"')


def test_load_space_rejects_conditional_required(tmp_path):
    table = 'type = "Fixed"\nvalue = 0.01\nparent_name = "optimizer"\nparent_values = ["sgd"]'
    path = write_space(tmp_path, learning_rate=table)

    assert_rejected(path, "[learning_rate]", 'parent_name "optimizer"', "required")


def test_load_space_rejects_unconditional_momentum(tmp_path):
    path = write_space(tmp_path, momentum='type = "Choice"\nvalues = [0.0, 0.9]')

    assert_rejected(path, "[momentum]", "rmsprop, adam", "has no parent_name", '["sgd"]')


def test_load_space_rejects_momentum_for_adam(tmp_path):
    table = (
        'type = "Choice"\nvalues = [0.0, 0.9]\nparent_name = "optimizer"\n'
        'parent_values = ["sgd", "adam"]'
    )
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", "used only with SGD", 'optimizer in ["sgd", "adam"]')


def test_load_space_accepts_momentum_with_fixed_sgd(tmp_path):
    path = write_space(
        tmp_path,
        optimizer='type = "Fixed"\nvalue = "sgd"',
        momentum='type = "Float"\nmin_value = 0.0\nmax_value = 0.9',
    )

    space = load_space(path)

    assert space.entries[-1].parent_name is None


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
