"""Tests of `search_space_report`, the text and JSON that `check-space` shows of a valid space."""

from __future__ import annotations

from kvsf_tune import search_space_report
from kvsf_tune.search_space import load_space

SPACE = """
description = "Two choices and a stepped Float."

[optimizer]
type = "Choice"
values = ["sgd", "adam"]

[learning_rate]
type = "Float"
min_value = 0.1
max_value = 0.3
step = 0.1

[batch_size]
type = "Fixed"
value = 32

[epochs]
type = "Fixed"
value = 2

[restarts]
type = "Fixed"
value = 1

[momentum]
type = "Choice"
values = [0.0, 0.9]
default = 0.9
parent_name = "optimizer"
parent_values = ["sgd"]
"""


def load(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return load_space(path)


def test_space_text_lines(tmp_path):
    space = load(tmp_path)

    lines = search_space_report.space_text(space).splitlines()

    assert lines[0] == f"{space.path}: valid search space. Two choices and a stepped Float."
    assert lines[1] == "  optimizer      Choice  sgd, adam"
    assert lines[2] == "  learning_rate  Float   0.1 to 0.3; step 0.1"
    assert lines[-2] == "  momentum       Choice  0.0, 0.9; default 0.9; only when optimizer is sgd"
    assert lines[-1].startswith("Grid size: ")


def test_space_json_condition(tmp_path):
    space = load(tmp_path)

    momentum = search_space_report.space_json(space)["hyperparameters"]["momentum"]

    assert momentum["values"] == [0.0, 0.9]
    assert momentum["default"] == 0.9
    assert momentum["parent_name"] == "optimizer"
    assert momentum["parent_values"] == ["sgd"]


def test_grid_line_singular():
    assert search_space_report.grid_line(1) == "Grid size: 1 setting."


def test_grid_line_infinite():
    assert search_space_report.grid_line(None).startswith("Grid size: infinite, because a Float entry has no step")
