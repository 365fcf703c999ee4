"""Tests of one search-space entry: a table's type, keys, KerasTuner arguments and condition."""

from __future__ import annotations

import pytest
from conftest import BASE_TABLES, assert_rejected, write_space


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


# Conditions on their own.


def test_load_space_rejects_parent_name_alone(tmp_path):
    path = write_space(tmp_path, momentum='type = "Fixed"\nvalue = 0.9\nparent_name = "optimizer"')

    assert_rejected(path, "[momentum]", "only one of parent_name and parent_values")


def test_load_space_rejects_self_parent(tmp_path):
    table = 'type = "Fixed"\nvalue = 0.9\nparent_name = "momentum"\nparent_values = [0.9]'
    path = write_space(tmp_path, momentum=table)

    assert_rejected(path, "[momentum]", 'parent_name "momentum"')
