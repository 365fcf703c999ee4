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

from kvsf_tune import records, reliability
from kvsf_tune.data import MODEL_NAMES
from kvsf_tune.errors import UsageError
from kvsf_tune.reliability import TrialSummary

logger = logging.getLogger(__name__)

DEFAULT_RUNS = 48
CONFIRMATION_RUNS = 64
# How many of the best-ranked reliable settings are confirmed before the search gives up.
MAX_CONFIRMATIONS = 3
DEFAULT_MAX_TRIALS = {"voter": 12, "matcher": 16}

# Options that must match when a search is resumed; the others may change between attempts.
RESUME_KEYS = ("model", "runs", "target", "seed", "data_seed", "tuner", "space")


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
        best: The confirmed winner's trial id, or else the best-ranked trial's id (`None` when
            no trial finished).
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


def validate(options: SearchOptions) -> None:
    """Check every option before anything is trained; raise `UsageError` naming the bad value."""
    from kvsf_tune.tuner import TUNERS

    if options.model not in MODEL_NAMES:
        raise UsageError(f"Unknown model {options.model!r}; use one of: {', '.join(MODEL_NAMES)}.")
    _check_fraction("--target", options.target)
    _check_fraction("--required-pass-rate", options.required_pass_rate)
    _check_at_least_one("--runs", options.runs)
    _check_at_least_one("--confirmation-runs", options.confirmation_runs)
    if options.max_trials is not None:
        _check_at_least_one("--max-trials", options.max_trials)
    if options.tuner not in TUNERS:
        raise UsageError(f"Unknown tuner {options.tuner!r}; use one of: {', '.join(TUNERS)}.")
    _check_log_dir(options.log_dir)


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise UsageError(f"Invalid {name} {value}: it must be a fraction in (0, 1], for example 0.95.")


def _check_at_least_one(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"Invalid {name} {value}: it must be at least 1.")


def _check_log_dir(log_dir: Path) -> None:
    if log_dir.exists() and not log_dir.is_dir():
        raise UsageError(f"Invalid --logdir {log_dir}: it is a file; pass a folder.")
    existing = next((p for p in [log_dir, *log_dir.parents] if p.exists()), Path("."))
    if not os.access(existing, os.W_OK):
        raise UsageError(f"Invalid --logdir {log_dir}: {existing} is not writable; pass a writable folder.")


def search(
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
    progress=None,
) -> SearchResult:
    """Search for a setting that reaches the target accuracy on nearly every seed.

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
        progress: An object with `search_started`, `trial_started`, `epoch_callback` and
            `trial_finished` methods, or `None` for no progress output.

    Returns:
        A `SearchResult`.
    """
    from kvsf_tune.search_space import default_space_path

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
    return run(options, progress=progress)


def run(options: SearchOptions, *, progress=None) -> SearchResult:
    """Run (or resume) the search described by `options`, then confirm its best setting."""
    from kvsf_tune.search_space import load_space

    validate(options)
    space = load_space(options.space)
    if options.tuner == "grid" and space.grid_size() is None:
        raise UsageError(
            f"Invalid --tuner grid for {options.space}: a Float entry without `step` has infinitely many "
            "values; give it a step or use another tuner."
        )
    state = _start_record(options)
    tuner = _make_tuner(options, space, progress)
    if progress is not None:
        progress.search_started(tuner.oracle.max_trials or 0, len(tuner.oracle.trials))

    with _stdout_to_log():
        tuner.search()
    return finish(options, tuner.hypermodel, state, progress=progress)


def _make_tuner(options: SearchOptions, space, progress):
    from kvsf_tune import tensorboard
    from kvsf_tune.hypermodels import HYPERMODELS
    from kvsf_tune.tuner import ReliabilityTuner, make_oracle

    if options.tuner == "hyperband":
        from kvsf_tune.tuner import hyperband_max_epochs

        space = space.with_fixed("epochs", hyperband_max_epochs(space))
    hypermodel = HYPERMODELS[options.model](
        space, runs=options.runs, target=options.target, seed=options.seed, data_seed=options.data_seed
    )
    max_trials = options.max_trials or _default_max_trials(options, space)
    oracle = make_oracle(options.tuner, hypermodel, max_trials=max_trials, seed=options.seed)
    with _stdout_to_log():
        tuner = ReliabilityTuner(
            hypermodel,
            oracle,
            directory=options.log_dir,
            project_name=options.project_name,
            overwrite=False,
            progress=progress,
        )
    tensorboard.write_experiment(options.project_dir, space.domains(), target=options.target)
    return tuner


def _default_max_trials(options: SearchOptions, space) -> int:
    default = DEFAULT_MAX_TRIALS[options.model]
    if options.tuner == "grid":
        return min(space.grid_size() or default, 10 * default)
    return default


def _start_record(options: SearchOptions) -> dict:
    """Create, resume or (with `overwrite`) replace the search's `search.json`."""
    import shutil

    project = options.project_dir
    if options.overwrite and project.exists():
        shutil.rmtree(project)
    state = _options_record(options)
    if (project / records.SEARCH_FILE).is_file():
        previous = records.load_search(project)
        _check_resumable(previous, state, project)
        state = {**previous, **state}
    records.save_search(project, {**state, "status": "running"})
    return state


def _options_record(options: SearchOptions) -> dict:
    return {
        "model": options.model,
        "project": options.project_name,
        "log_dir": str(options.log_dir),
        "target": options.target,
        "required_pass_rate": options.required_pass_rate,
        "runs": options.runs,
        "confirmation_runs": options.confirmation_runs,
        "seed": options.seed,
        "data_seed": options.data_seed,
        "tuner": options.tuner,
        "max_trials": options.max_trials,
        "space": str(options.space.resolve()),
    }


def _check_resumable(previous: dict, current: dict, project: Path) -> None:
    for key in RESUME_KEYS:
        if previous.get(key) != current.get(key):
            raise UsageError(
                f"Cannot resume the search in {project}: it was started with {key}={previous.get(key)!r}, "
                f"not {current.get(key)!r}. Pass the same options, another --project, or --overwrite."
            )


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
        best = ranked[0].trial_id if ranked else None
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
