"""Tests of kvsf_tune.options: defaults, the checks the CLI cannot reach, and the default trial count."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import pytest

from kvsf_tune.errors import UsageError
from kvsf_tune.options import (
    DEFAULT_MAX_TRIALS,
    DEFAULT_RUNS,
    MAX_SEED,
    SearchOptions,
    default_max_trials,
    search_command,
    search_options,
)
from kvsf_tune.search_space import default_space_path


def test_search_options_defaults(tmp_path):
    options = search_options("matcher", log_dir=tmp_path)

    assert options.space == default_space_path("matcher")
    assert options.runs == DEFAULT_RUNS
    assert options.project_dir == tmp_path / "matcher"


def test_search_options_paths_from_strings(space, tmp_path):
    options = search_options("voter", space=str(space), log_dir=str(tmp_path), project="mine")

    assert options.space == space
    assert options.log_dir == tmp_path
    assert options.project_name == "mine"


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"target": float("nan")}, "Invalid --target nan"),
        ({"runs": True}, "Invalid --runs True"),
        ({"confirmation_runs": 2.5}, "Invalid --confirmation-runs 2.5"),
        ({"seed": MAX_SEED + 1}, f"Invalid --seed {MAX_SEED + 1}"),
    ],
)
def test_search_options_rejects_value(space, tmp_path, values, fragment):
    with pytest.raises(UsageError, match=fragment):
        search_options("matcher", space=space, log_dir=tmp_path, **values)


def test_search_options_unknown_model_first(tmp_path):
    # The model is checked before its default search-space file is looked up.
    with pytest.raises(UsageError, match="Unknown model 'mathcer'"):
        search_options("mathcer", log_dir=tmp_path)


def test_search_options_unknown_keyword(space, tmp_path):
    with pytest.raises(TypeError, match="trials"):
        search_options("matcher", space=space, log_dir=tmp_path, trials=3)


@pytest.mark.parametrize("max_trials, warned", [(3, True), (None, False)])
def test_hyperband_max_trials_warning(space, tmp_path, caplog, max_trials, warned):
    with caplog.at_level(logging.WARNING, logger="kvsf_tune.options"):
        search_options("matcher", space=space, tuner="hyperband", max_trials=max_trials, log_dir=tmp_path)

    assert ("--max-trials 3 does not apply to --tuner hyperband" in caplog.text) is warned


def test_search_options_warns_unreachable(space, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="kvsf_tune.options"):
        search_options("matcher", space=space, log_dir=tmp_path, runs=2, confirmation_runs=2)

    assert "With --runs 2" in caplog.text
    assert "With --confirmation-runs 2" in caplog.text


class _Grid:
    def __init__(self, size: int | None):
        self.size = size

    def grid_size(self) -> int | None:
        return self.size


@pytest.mark.parametrize(("tuner", "grid", "expected"), [("random", 5, 16), ("grid", 5, 5), ("grid", 10**6, 160)])
def test_default_max_trials(tuner, grid, expected):
    options = SearchOptions(model="matcher", space=Path("space.toml"), tuner=tuner)

    assert DEFAULT_MAX_TRIALS["matcher"] == 16
    assert default_max_trials(options, _Grid(grid)) == expected


def stored_options(tmp_path: Path, **changes) -> dict:
    """Return a search.json record of a matcher search with default options and `changes`."""
    from kvsf_tune.resume import options_record

    return {**options_record(search_options("matcher", log_dir=tmp_path)), **changes}


def test_search_command_defaults(tmp_path):
    command = search_command(stored_options(tmp_path), tmp_path / "matcher")

    assert shlex.split(command) == ["kvsf-tune", "search", "matcher", "--logdir", str(tmp_path.resolve())]


def test_search_command_names_changed_options(tmp_path, space):
    stored = stored_options(tmp_path, runs=8, target=0.7, seed=3, max_trials=5, space=str(space.resolve()))

    words = shlex.split(search_command(stored, tmp_path / "other"))

    assert words[words.index("--project") + 1] == "other"
    assert words[words.index("--space") + 1] == str(space.resolve())
    assert words[words.index("--runs") + 1] == "8"
    assert words[words.index("--target") + 1] == "0.7"
    assert words[words.index("--seed") + 1] == "3"
    assert words[words.index("--max-trials") + 1] == "5"


def test_search_command_hyperband_no_max_trials(tmp_path):
    command = search_command(stored_options(tmp_path, tuner="hyperband", max_trials=30), tmp_path / "matcher")

    assert "--tuner hyperband" in command
    assert "--max-trials" not in command
