"""A reliability search from start to end: KerasTuner search, confirmation, result.

After the last trial, the best-ranked reliable settings are trained again on fresh seeds that no
trial used. The first one whose confirmation is reliable too is the search's winner. The options
of a search and their checks are in `kvsf_tune.options`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from kvsf_tune import interrupts, records, reliability
from kvsf_tune.errors import UsageError

# The CLI imports the options' names from `tuning`, so they stay importable here.
from kvsf_tune.options import (  # noqa: F401
    CONFIRMATION_RUNS,
    DEFAULT_MAX_TRIALS,
    DEFAULT_RUNS,
    MAX_SEED,
    TUNERS,
    SearchOptions,
    default_max_trials,
    search_command,
    search_options,
    validate,
)
from kvsf_tune.reliability import TrialSummary

logger = logging.getLogger(__name__)

# How many of the best-ranked reliable settings are confirmed before the search gives up.
MAX_CONFIRMATIONS = 3


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
        confirmations: Every confirmation made, in order.
        finished: Whether the search ran to its end. A stopped search, or one still running in
            another process, is read back with `False`.
        max_trials: The trials the search runs in all, when known.
        resume_command: The `kvsf-tune search` command that resumes an unfinished search.
    """

    model: str
    project_dir: Path
    trials: tuple[TrialSummary, ...]
    best: str | None
    reliable: bool
    confirmation: dict | None
    required_pass_rate: float = reliability.DEFAULT_REQUIRED_PASS_RATE
    confirmations: tuple[dict, ...] = field(default=())
    finished: bool = True
    max_trials: int | None = None
    resume_command: str | None = None

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


def search(model: str, *, progress=None, **options) -> SearchResult:
    """Search for a setting that reaches the target accuracy on nearly every seed.

    Args:
        model: `"voter"` or `"matcher"`.
        progress: An object with `search_started`, `trial_started`, `epoch_callback` and
            `trial_finished` methods, or `None` for no progress output. Defaults to `None`.
        **options: The keyword arguments of `kvsf_tune.options.search_options`: any `SearchOptions` field
            but `model`, each with the default listed there.

    Returns:
        A `SearchResult`.

    Raises:
        UsageError: If an option or the search-space file is invalid, before anything is trained.
    """
    return run(search_options(model, **options), progress=progress)


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
    # `search_options` has checked the options and warned already, so only the space is loaded again.
    space = validate(options, warn=False)
    if role.kind == distributed.WORKER:
        _work(options, space, role, progress)
        return None

    options, state = resume.start_record(options, default_max_trials=default_max_trials(options, space))
    with interrupts.recorded_interrupts():
        tuner = _make_tuner(options, space, progress, role)
        if role.kind == distributed.SINGLE:
            _search_here(tuner, options, progress)
        else:
            with _stdout_to_log():
                distributed.serve(tuner, options, role)
        interrupts.raise_if_interrupted()
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

    with _stdout_to_log(), interrupts.recorded_interrupts():
        tuner.search()
    logger.info("Worker %s finished: the oracle has no trials left.", role.tuner_id)


def _make_tuner(options: SearchOptions, space, progress, role):
    from kvsf_tune import distributed, resume, tensorboard
    from kvsf_tune.tuner import experiment_domains, make_oracle

    hypermodel = _make_hypermodel(options, space)
    max_trials = options.max_trials or default_max_trials(options, hypermodel.space)
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
    domains = experiment_domains(options.tuner, hypermodel.space)
    tensorboard.write_experiment(options.project_dir, domains, target=options.target)
    return tuner


def _make_hypermodel(options: SearchOptions, space):
    from kvsf_tune.hypermodels import HYPERMODELS

    if options.tuner == "hyperband":
        from kvsf_tune.tuner import hyperband_max_epochs

        space = space.with_fixed("epochs", hyperband_max_epochs(space))
    return HYPERMODELS[options.model](
        space, runs=options.runs, target=options.target, seed=options.seed, data_seed=options.data_seed
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
    records.check_search_is_folder(folder)
    if not folder.is_dir():
        raise LogDirError(f"No search found in {folder}: the folder does not exist. Run `kvsf-tune search` first or pass the right --logdir.")
    state = records.load_search(folder)
    ranked = reliability.rank(collect_summaries(folder))
    confirmations = list(state.get("confirmations") or [])
    result = make_result(state["model"], folder, ranked, confirmations, state["required_pass_rate"])
    if state.get("status") != "running":
        return replace(result, max_trials=state.get("max_trials"))
    command = search_command(state, folder) if "model" in state else None
    return replace(result, finished=False, max_trials=state.get("max_trials"), resume_command=command)
