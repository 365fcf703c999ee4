"""The options of a reliability search: their defaults, how they are built and how they are checked.

The module imports no TensorFlow, Keras or KerasTuner, so that `validate` can run before they load.
"""

from __future__ import annotations

import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvsf_tune import records, reliability
from kvsf_tune.data import check_model_name
from kvsf_tune.errors import UsageError

if TYPE_CHECKING:
    from kvsf_tune.search_space import SearchSpace

logger = logging.getLogger(__name__)

DEFAULT_RUNS = 48
CONFIRMATION_RUNS = 64
DEFAULT_MAX_TRIALS = {"voter": 12, "matcher": 16}
TUNERS = ("random", "bayesian", "hyperband", "grid")
DEFAULT_LOG_DIR = Path("logs")
# NumPy's and scikit-learn's random states accept seeds from 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class SearchOptions:
    """The options of one search.

    Attributes:
        model: `"voter"` or `"matcher"`.
        space: Search-space TOML file. `search_options` defaults it to `search_spaces/<model>.toml`.
        runs: Independent runs per trial. Defaults to `48`, the fewest round number whose perfect
            score clears a required pass rate of 0.9.
        target: Validation accuracy a run must reach. Defaults to `0.95`.
        required_pass_rate: Wilson lower bound a reliable setting must reach. Defaults to `0.9`.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`. Defaults to `"random"`.
        max_trials: Trials to run. Defaults to `None`: 16 for the matcher and 12 for the voter;
            for the grid, all points up to ten times that number.
        seed: Seed of the oracle, the replica seeds and the batch orders. Defaults to `0`.
        log_dir: Output folder. Defaults to `Path("logs")`.
        project: Folder of this search inside `log_dir`. Defaults to `None`: the model name.
        overwrite: Start over instead of resuming an existing search. Defaults to `False`.
        data_seed: Seed of the exercise's dataset. Defaults to `42`.
        confirmation_runs: Fresh runs that confirm the best setting. Defaults to `64`.
    """

    model: str
    space: Path
    runs: int = DEFAULT_RUNS
    target: float = reliability.DEFAULT_TARGET
    required_pass_rate: float = reliability.DEFAULT_REQUIRED_PASS_RATE
    tuner: str = "random"
    max_trials: int | None = None
    seed: int = 0
    log_dir: Path = DEFAULT_LOG_DIR
    project: str | None = None
    overwrite: bool = False
    data_seed: int = 42
    confirmation_runs: int = CONFIRMATION_RUNS

    @property
    def project_name(self) -> str:
        return self.project or self.model

    @property
    def project_dir(self) -> Path:
        return records.project_dir(self.log_dir, self.project_name)


def search_options(
    model: str,
    *,
    space: str | os.PathLike | None = None,
    log_dir: str | os.PathLike = "logs",
    **values: Any,
) -> SearchOptions:
    """Build and validate the options of a search, without importing TensorFlow.

    Args:
        model: `"voter"` or `"matcher"`.
        space: Search-space TOML file. Defaults to `search_spaces/<model>.toml`.
        log_dir: Output folder. Defaults to `"logs"`.
        **values: Any other field of `SearchOptions`, which lists each one with its default.

    Returns:
        Options that `validate` accepted, ready for `tuning.run`.

    Raises:
        UsageError: If an option or the search-space file is invalid.
    """
    # The model comes first because the default search-space file is named after it.
    check_model_name(model)
    options = SearchOptions(model=model, space=_space_path(model, space), log_dir=Path(log_dir), **values)
    validate(options)
    return options


def _space_path(model: str, space: str | os.PathLike | None) -> Path:
    from kvsf_tune.search_space import default_space_path

    return Path(space) if space is not None else default_space_path(model)


def validate(options: SearchOptions, *, warn: bool = True) -> SearchSpace:
    """Check every option and the search-space file, then return the loaded search space.

    It imports no TensorFlow, Keras or KerasTuner and leaves nothing on disk. The CLI therefore
    calls it before loading TensorFlow, so a bad option fails within a fraction of a second.

    Args:
        options: The search's options.
        warn: Log a warning for options that are valid but cannot work as the user may expect, such
            as too few runs to prove reliability. Defaults to `True`.

    Raises:
        UsageError: If an option is invalid. The message names the option and the value.
        SearchSpaceError: If the search-space file is missing, unreadable or breaks a rule.
    """
    from kvsf_tune.search_space import load_space

    _check_values(options)
    space = load_space(options.space)
    _check_grid(options, space)
    _check_log_dir(options.log_dir, options.project_dir)
    if warn:
        _warn_unreachable("--runs", options.runs, options.required_pass_rate)
        _warn_unreachable("--confirmation-runs", options.confirmation_runs, options.required_pass_rate)
        _warn_hyperband_trials(options)
    return space


def default_max_trials(options: SearchOptions, space: SearchSpace) -> int:
    """Return the trials a search runs when `max_trials` is not given.

    A grid runs all its points, but at most ten times the model's usual number of trials.
    """
    default = DEFAULT_MAX_TRIALS[options.model]
    if options.tuner == "grid":
        return min(space.grid_size() or default, 10 * default)
    return default


def _check_values(options: SearchOptions) -> None:
    """Check the options that need no file: their types and ranges."""
    check_model_name(options.model)
    _check_fraction("--target", options.target)
    _check_fraction("--required-pass-rate", options.required_pass_rate)
    _check_count("--runs", options.runs)
    _check_count("--confirmation-runs", options.confirmation_runs)
    if options.max_trials is not None:
        _check_count("--max-trials", options.max_trials)
    _check_seed(options.seed)
    if options.tuner not in TUNERS:
        raise UsageError(f"Invalid --tuner {options.tuner!r}: use one of: {', '.join(TUNERS)}.")


def _warn_unreachable(name: str, runs: int, required_pass_rate: float) -> None:
    # Too few runs cannot prove reliability even when every run passes. Such a search still ranks
    # settings, so it is allowed, but the user learns at once that it cannot succeed.
    best_bound = reliability.wilson_lower_bound(runs, runs)
    if best_bound < required_pass_rate:
        needed = reliability.runs_needed(required_pass_rate)
        logger.warning(
            "With %s %d even a perfect score has a lower bound of %.3f, below --required-pass-rate %s, "
            "so no setting can be reliable. Use %s %d or more for a search that can succeed.",
            name, runs, best_bound, required_pass_rate, name, needed,
        )


def _warn_hyperband_trials(options: SearchOptions) -> None:
    # KerasTuner's Hyperband oracle has no trial limit: its brackets decide how many trials run.
    if options.tuner == "hyperband" and options.max_trials is not None:
        logger.warning(
            "--max-trials %d does not apply to --tuner hyperband: Hyperband's brackets, sized by the "
            "largest epochs value of the space, decide the number of trials.",
            options.max_trials,
        )


def _check_fraction(name: str, value: float) -> None:
    # `not 0 < value` also rejects NaN.
    if not 0 < value <= 1:
        raise UsageError(f"Invalid {name} {value}: it must be a fraction in (0, 1], for example 0.95.")


def _check_count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"Invalid {name} {value!r}: it must be an integer of at least 1.")


def _check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"Invalid --seed {seed!r}: it must be an integer from 0 to {MAX_SEED}.")


def _check_grid(options: SearchOptions, space: SearchSpace) -> None:
    if options.tuner == "grid" and space.grid_size() is None:
        raise UsageError(
            f"Invalid --tuner grid for {options.space}: a Float entry without `step` has infinitely many "
            "values; give it a step or use another tuner."
        )


def _check_log_dir(log_dir: Path, project_dir: Path) -> None:
    """Check that the search's folder can be created, by writing a temporary file where it would go.

    A write probe, unlike `os.access`, also fails for root on a read-only file system.
    """
    import tempfile

    existing = next((path for path in (project_dir, *project_dir.parents) if path.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"Invalid --logdir {log_dir}: {existing} is a file, not a folder; pass a folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(
            f"Invalid --logdir {log_dir}: cannot write in {existing} ({error.strerror}); pass a writable folder."
        ) from error


def search_command(stored: dict, project_dir: Path) -> str:
    """Return the `kvsf-tune search` command that resumes a search, from the options in its `search.json`.

    Every option that must match on resume and differs from its default is named, and the log dir is
    absolute, so the command works from any folder.

    Args:
        stored: The search's record, as `records.load_search` returns it.
        project_dir: The search's folder.
    """
    from kvsf_tune.search_space import default_space_path

    model = stored["model"]
    words = ["kvsf-tune", "search", model, "--logdir", str(Path(project_dir).resolve().parent)]
    if project_dir.name != model:
        words += ["--project", project_dir.name]
    space = stored.get("space")
    if space and Path(space) != default_space_path(model).resolve():
        words += ["--space", space]
    defaults = SearchOptions(model=model, space=Path())
    for key, option in _STORED_OPTIONS.items():
        value = stored.get(key)
        # Hyperband's brackets size the search, so it takes no --max-trials.
        if key == "max_trials" and stored.get("tuner") == "hyperband":
            continue
        if value is not None and value != getattr(defaults, key):
            words += [option, str(value)]
    return shlex.join(words)


# The stored options that a resumed search must be given again, with their command-line names.
_STORED_OPTIONS = {
    "runs": "--runs",
    "target": "--target",
    "required_pass_rate": "--required-pass-rate",
    "confirmation_runs": "--confirmation-runs",
    "tuner": "--tuner",
    "max_trials": "--max-trials",
    "seed": "--seed",
}

