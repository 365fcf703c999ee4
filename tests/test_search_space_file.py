"""Tests of search-space files as a whole: reading, names, value rules and conditions."""

from __future__ import annotations

import pytest
from conftest import assert_rejected, write_space

from kvsf_tune.search_space import OPTIMIZERS, REQUIRED, load_space


# The file.


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
