"""A reliability search from start to end: options, KerasTuner search, confirmation, result.

After the last trial, the best-ranked reliable settings are trained again on fresh seeds that no
trial used. The first one whose confirmation is reliable too is the search's winner.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kvsf_tune import records, reliability
from kvsf_tune.data import MODEL_NAMES
from kvsf_tune.errors import UsageError
from kvsf_tune.reliability import TrialSummary

if TYPE_CHECKING:
    from kvsf_tune.search_space import SearchSpace

logger = logging.getLogger(__name__)

DEFAULT_RUNS = 48
CONFIRMATION_RUNS = 64
# How many of the best-ranked reliable settings are confirmed before the search gives up.
MAX_CONFIRMATIONS = 3
DEFAULT_MAX_TRIALS = {"voter": 12, "matcher": 16}
TUNERS = ("random", "bayesian", "hyperband", "grid")
# NumPy's and scikit-learn's random states accept seeds from 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class SearchOptions:
    """The options of one search; see `search` for their meaning and defaults."""

    model: str
    space: Path
    runs: int = DEFAULT_RUNS
    target: float = reliability.DEFAULT_TARGET
    required_pass_rate: float = reliability.DEFAULT_REQUIRED_PASS_RATE
    tuner: str = "random"
    max_trials: int | None = None
    seed: int = 0
    log_dir: Path = Path("logs")
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


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a search: ranked trials, the best one and its confirmation.

    Attributes:
        model: `"voter"` or `"matcher"`.
        project_dir: The search's folder.
        trials: Every trial, best first.
        best: The confirmed winner's trial id, or else the best-ranked completed trial's id
            (`None` when every trial failed or none finished).
        reliable: Whether a setting was reliable in the search and again on fresh seeds.
        confirmation: The confirmation of `best`, or `None` when nothing was confirmed.
        required_pass_rate: The lower bound a reliable setting reaches.
    """

    model: str
    project_dir: Path
    trials: tuple[TrialSummary, ...]
    best: str | None
    reliable: bool
    confirmation: dict | None
    required_pass_rate: float = reliability.DEFAULT_REQUIRED_PASS_RATE
    confirmations: tuple[dict, ...] = field(default=())

    def to_json(self) -> dict:
        """Return the result in the documented `--json` schema."""
        return {
            "model": self.model,
            "trials": [summary.to_json() for summary in self.trials],
            "best": self.best,
            "reliable": self.reliable,
            "confirmation": self.confirmation,
        }

    def is_reliable_trial(self, summary: TrialSummary) -> bool:
        return reliability.is_reliable(summary, self.required_pass_rate)


def validate(options: SearchOptions) -> SearchSpace:
    """Check every option and the search-space file, then return the loaded search space.

    It imports no TensorFlow, Keras or KerasTuner and leaves nothing on disk. The CLI therefore
    calls it before loading TensorFlow, so a bad option fails within a fraction of a second.

    Raises:
        UsageError: If an option is invalid. The message names the option and the value.
        SearchSpaceError: If the search-space file is missing, unreadable or breaks a rule.
    """
    from kvsf_tune.search_space import load_space

    _check_model(options.model)
    _check_fraction("--target", options.target)
    _check_fraction("--required-pass-rate", options.required_pass_rate)
    _check_count("--runs", options.runs)
    _check_count("--confirmation-runs", options.confirmation_runs)
    if options.max_trials is not None:
        _check_count("--max-trials", options.max_trials)
    _check_seed(options.seed)
    if options.tuner not in TUNERS:
        raise UsageError(f"Invalid --tuner {options.tuner!r}: use one of: {', '.join(TUNERS)}.")

    space = load_space(options.space)
    _check_grid(options, space)
    _check_log_dir(options.log_dir, options.project_dir)
    _warn_unreachable("--runs", options.runs, options.required_pass_rate)
    _warn_unreachable("--confirmation-runs", options.confirmation_runs, options.required_pass_rate)
    return space


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


def _check_model(model: str) -> None:
    if model not in MODEL_NAMES:
        raise UsageError(f"Unknown model {model!r}: use one of: {', '.join(MODEL_NAMES)}.")


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


def search(model: str, *, progress=None, **options) -> SearchResult:
    """Search for a setting that reaches the target accuracy on nearly every seed.

    Args:
        model: `"voter"` or `"matcher"`.
        progress: An object with `search_started`, `trial_started`, `epoch_callback` and
            `trial_finished` methods, or `None` for no progress output. Defaults to `None`.
        **options: The keyword arguments of `search_options`.

    Returns:
        A `SearchResult`.

    Raises:
        UsageError: If an option or the search-space file is invalid, before anything is trained.
    """
    return run(search_options(model, **options), progress=progress)


def search_options(
    model: str,
    *,
    space: str | os.PathLike | None = None,
    runs: int = DEFAULT_RUNS,
    target: float = reliability.DEFAULT_TARGET,
    required_pass_rate: float = reliability.DEFAULT_REQUIRED_PASS_RATE,
    tuner: str = "random",
    max_trials: int | None = None,
    seed: int = 0,
    log_dir: str | os.PathLike = "logs",
    project: str | None = None,
    overwrite: bool = False,
    data_seed: int = 42,
    confirmation_runs: int = CONFIRMATION_RUNS,
) -> SearchOptions:
    """Build and validate the options of a search, without importing TensorFlow.

    Args:
        model: `"voter"` or `"matcher"`.
        space: Search-space TOML file. Defaults to `search_spaces/<model>.toml`.
        runs: Independent runs per trial. Defaults to `48`, the fewest round number whose perfect
            score clears a required pass rate of 0.9.
        target: Validation accuracy a run must reach. Defaults to `0.95`.
        required_pass_rate: Wilson lower bound a reliable setting must reach. Defaults to `0.9`.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`. Defaults to `"random"`.
        max_trials: Trials to run. Defaults to 16 for the matcher and 12 for the voter; for the
            grid, all points up to that number.
        seed: Seed of the oracle, the replica seeds and the batch orders. Defaults to `0`.
        log_dir: Output folder. Defaults to `"logs"`.
        project: Folder of this search inside `log_dir`. Defaults to the model name.
        overwrite: Start over instead of resuming an existing search. Defaults to `False`.
        data_seed: Seed of the exercise's dataset. Defaults to `42`.
        confirmation_runs: Fresh runs that confirm the best setting. Defaults to `64`.

    Returns:
        Options that `validate` accepted, ready for `run`.

    Raises:
        UsageError: If an option or the search-space file is invalid.
    """
    from kvsf_tune.search_space import default_space_path

    _check_model(model)
    options = SearchOptions(
        model=model,
        space=Path(space) if space is not None else default_space_path(model),
        runs=runs,
        target=target,
        required_pass_rate=required_pass_rate,
        tuner=tuner,
        max_trials=max_trials,
        seed=seed,
        log_dir=Path(log_dir),
        project=project,
        overwrite=overwrite,
        data_seed=data_seed,
        confirmation_runs=confirmation_runs,
    )
    validate(options)
    return options


def run(options: SearchOptions, *, progress=None, role=None) -> SearchResult | None:
    """Run (or resume) the search described by `options`, then confirm its best setting.

    Args:
        options: The search's options, as `search_options` returns them.
        progress: Progress reporter, or `None` for no progress output. Defaults to `None`.
        role: This process's part, a `distributed.Role`. Defaults to `None`: one process runs
            every trial.

    Returns:
        A `SearchResult`, or `None` for a worker, whose chief ranks and confirms the trials.
    """
    from kvsf_tune import distributed, resume

    role = role or distributed.Role()
    space = validate(options)
    if role.kind == distributed.WORKER:
        _work(options, space, role, progress)
        return None

    options, state = resume.start_record(options, default_max_trials=_default_max_trials(options, space))
    tuner = _make_tuner(options, space, progress, role)
    if role.kind == distributed.SINGLE:
        _search_here(tuner, options, progress)
    else:
        with _stdout_to_log():
            distributed.serve(tuner, options, role)
    return finish(options, tuner.hypermodel, state, progress=progress)


def _search_here(tuner, options: SearchOptions, progress) -> None:
    if progress is not None:
        # A trial with a record counts as finished; one interrupted mid-way does not.
        progress.search_started(tuner.oracle.max_trials or 0, len(collect_summaries(options.project_dir)))
    with _stdout_to_log():
        tuner.search()


def _work(options: SearchOptions, space, role, progress) -> None:
    """Run trials from the chief's oracle until it has none left."""
    from kvsf_tune import resume

    if options.overwrite:
        raise UsageError("--overwrite cannot be used with --role worker: only the chief may start a search over.")
    tuner = _make_tuner(options, space, progress, role)
    logger.info("Worker %s is waiting for the oracle at %s.", role.tuner_id, role.address)
    with _stdout_to_log():
        # The first request waits until the chief responds (KerasTuner 1.4.8 gives up after an hour).
        tuner.oracle.get_space()
    resume.check_joined_search(options, role.tuner_id)

    with _stdout_to_log():
        tuner.search()
    logger.info("Worker %s finished: the oracle has no trials left.", role.tuner_id)


def _make_tuner(options: SearchOptions, space, progress, role):
    from kvsf_tune import distributed, resume, tensorboard
    from kvsf_tune.tuner import make_oracle

    hypermodel = _make_hypermodel(options, space)
    max_trials = options.max_trials or _default_max_trials(options, hypermodel.space)
    oracle = make_oracle(options.tuner, hypermodel, max_trials=max_trials, seed=options.seed)
    tuner_file_existed = (options.project_dir / f"{role.tuner_id}.json").is_file()
    with _stdout_to_log(), distributed.tuner_environment(role):
        tuner = resume.ResumableTuner(
            hypermodel,
            oracle,
            directory=options.log_dir,
            project_name=options.project_name,
            overwrite=False,
            progress=progress,
        )
    if role.kind == distributed.WORKER:
        return tuner

    with _stdout_to_log():
        resume.reload_oracle(tuner, options.project_dir, tuner_file_existed=tuner_file_existed)
    tensorboard.write_experiment(options.project_dir, hypermodel.space.domains(), target=options.target)
    return tuner


def _make_hypermodel(options: SearchOptions, space):
    from kvsf_tune.hypermodels import HYPERMODELS

    if options.tuner == "hyperband":
        from kvsf_tune.tuner import hyperband_max_epochs

        space = space.with_fixed("epochs", hyperband_max_epochs(space))
    return HYPERMODELS[options.model](
        space, runs=options.runs, target=options.target, seed=options.seed, data_seed=options.data_seed
    )


def _default_max_trials(options: SearchOptions, space) -> int:
    default = DEFAULT_MAX_TRIALS[options.model]
    if options.tuner == "grid":
        return min(space.grid_size() or default, 10 * default)
    return default


@contextlib.contextmanager
def _stdout_to_log():
    """Send what KerasTuner prints to the log (stderr), keeping stdout for results."""
    with contextlib.redirect_stdout(_LogWriter()):
        yield


class _LogWriter:
    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                logging.getLogger("keras_tuner").info(line)
        return len(text)

    def flush(self) -> None:
        pass


def finish(options: SearchOptions, hypermodel, state: dict, *, progress=None) -> SearchResult:
    """Rank the trials, confirm the best reliable settings and write `search.json`."""
    from kvsf_tune.confirmation import confirm_best

    project = options.project_dir
    ranked = reliability.rank(collect_summaries(project))
    confirmations = confirm_best(
        hypermodel, ranked, project, options=options, progress=progress
    )
    result = make_result(options.model, project, ranked, confirmations, options.required_pass_rate)
    records.save_search(
        project,
        {
            **state,
            "status": "finished",
            "trial_ids": [summary.trial_id for summary in ranked],
            "best": result.best,
            "reliable": result.reliable,
            "confirmation": result.confirmation,
            "confirmations": list(result.confirmations),
        },
    )
    return result


def make_result(
    model: str,
    project: Path,
    ranked: list[TrialSummary],
    confirmations: list[dict],
    required_pass_rate: float,
) -> SearchResult:
    """Build a `SearchResult` from ranked trials and the confirmations made in order."""
    winner = next((c for c in confirmations if c["reliable"]), None)
    if winner is not None:
        best = winner["trial_id"]
    else:
        # Ranking puts failed trials last, so a failed trial is never the best.
        completed = [summary for summary in ranked if summary.status == reliability.COMPLETED]
        best = completed[0].trial_id if completed else None
    return SearchResult(
        model=model,
        project_dir=project,
        trials=tuple(ranked),
        best=best,
        reliable=winner is not None,
        confirmation=winner or (confirmations[-1] if confirmations else None),
        required_pass_rate=required_pass_rate,
        confirmations=tuple(confirmations),
    )


def collect_summaries(project: Path) -> list[TrialSummary]:
    """Read every trial of a search: kvsf-tune's records, and KerasTuner's for failed trials."""
    from kvsf_tune.confirmation import failed_trial_summary

    summaries = []
    for folder in sorted(project.glob("trial_*")):
        if (folder / records.TRIAL_FILE).is_file():
            summaries.append(records.load_trial(folder).summary)
            continue
        failed = failed_trial_summary(folder)
        if failed is not None:
            summaries.append(failed)
    return summaries


def load_result(log_dir: str | os.PathLike, project: str) -> SearchResult:
    """Read a search's stored result without training anything (for `kvsf-tune trials`)."""
    from kvsf_tune.errors import LogDirError

    folder = records.project_dir(log_dir, project)
    if not folder.is_dir():
        raise LogDirError(f"No search found in {folder}: the folder does not exist. Run `kvsf-tune search` first or pass the right --logdir.")
    state = records.load_search(folder)
    ranked = reliability.rank(collect_summaries(folder))
    confirmations = list(state.get("confirmations") or [])
    return make_result(state["model"], folder, ranked, confirmations, state["required_pass_rate"])
