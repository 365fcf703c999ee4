"""Shared fixtures: tiny search spaces that train in about a second per trial."""

from __future__ import annotations

import os

import pytest

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


@pytest.fixture(scope="session")
def tiny_space_text() -> str:
    """Return the tiny search space as TOML text."""
    return TINY_SPACE


@pytest.fixture
def tiny_space(tmp_path):
    """Write the tiny search space to a file and return its path."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SPACE)
    return path
