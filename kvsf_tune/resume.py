"""Resuming a search: reuse finished trials, keep KerasTuner's oracle state, settle `max_trials`.

KerasTuner 1.4.8 saves its oracle to `oracle.json` when a trial starts and when it ends, and
`Oracle.reload` sends the trials that were running when the process stopped to its retry queue.
A trial killed after kvsf-tune wrote its record, but before KerasTuner recorded its end, would
therefore be trained a second time. `ResumableTuner` returns the stored record instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from dataclasses import replace

from kvsf_tune import records, reliability
from kvsf_tune.errors import LogDirError, UsageError
from kvsf_tune.tuner import ReliabilityTuner

logger = logging.getLogger(__name__)

ORACLE_FILE = "oracle.json"
KERAS_TUNER_TRIAL_FILE = "trial.json"

# Options that must match when a search is resumed; the others may change between attempts.
# The space is compared by content, so a moved or copied file (another machine's) still matches.
RESUME_KEYS = ("model", "runs", "target", "seed", "data_seed", "tuner", "space_sha256")


class ResumableTuner(ReliabilityTuner):
    """A `ReliabilityTuner` that does not train again a trial whose record is already on disk.

    Same arguments as `ReliabilityTuner`.
    """

    def run_trial(self, trial, *args, **kwargs):
        import keras_tuner

        from kvsf_tune.hypermodels import trial_metrics

        drop_inactive_values(trial.hyperparameters)
        record = finished_record(self.hypermodel, Path(self.get_trial_dir(trial.trial_id)), trial.hyperparameters)
        if record is None:
            return super().run_trial(trial, *args, **kwargs)

        logger.info("Trial %s finished before the search stopped; using its stored record.", trial.trial_id)
        if record.summary.status == reliability.FAILED:
            raise keras_tuner.errors.FailedTrialError(record.summary.message)
        return trial_metrics(record.summary)


def drop_inactive_values(hyperparameters) -> None:
    """Remove the values of inactive conditional hyperparameters, such as momentum for Adam.

    A trial sent over gRPC has a value for every hyperparameter of the space, because KerasTuner
    1.4.8's `HyperParameters.from_proto` fills in inactive ones. Without this, a worker's record
    would show them and its report would change the values the oracle checks for duplicates.
    """
    active = {parameter.name for parameter in hyperparameters.space if hyperparameters.is_active(parameter)}
    for parameter in hyperparameters.space:
        if parameter.name not in active:
            hyperparameters.values.pop(parameter.name, None)


def finished_record(hypermodel, folder: Path, hyperparameters) -> records.TrialRecord | None:
    """Return the stored record of a trial when it was trained with exactly this setting and seeds.

    Args:
        hypermodel: The search's `ReliabilityHyperModel`.
        folder: The trial's folder.
        hyperparameters: The trial's KerasTuner `HyperParameters`.

    Returns:
        The `TrialRecord`, or `None` when the folder contains no record or one of another setting.
    """
    if not (folder / records.TRIAL_FILE).is_file():
        return None

    record = records.load_trial(folder)
    setting = hypermodel.setting(hyperparameters)
    seeds, _ = hypermodel.seeds_for(setting)
    if record.setting != setting or list(record.replica_seeds) != seeds:
        logger.warning("The record in %s belongs to another setting or seeds; training the trial again.", folder)
        return None
    return record


def reload_oracle(tuner, project: Path, *, tuner_file_existed: bool) -> None:
    """Load the oracle's saved state when KerasTuner did not, because this tuner id is new.

    KerasTuner reloads the oracle only when `<tuner id>.json` exists, so a search started in one
    process (`tuner0.json`) and resumed with workers (the chief is `chief.json`) would otherwise
    start from trial 0 again and overwrite the finished trials.
    """
    if tuner_file_existed or not (project / ORACLE_FILE).is_file():
        return
    logger.debug("Reloading the oracle of %s for tuner %s.", project, tuner.tuner_id)
    tuner.oracle.reload()


def start_record(options, *, default_max_trials: int) -> tuple:
    """Create, resume or (with `overwrite`) replace the search's `search.json`.

    Args:
        options: The search's `SearchOptions`.
        default_max_trials: Trials of a new search started without `max_trials`.

    Returns:
        The options with `max_trials` settled by `resolve_max_trials`, and the search's record.

    Raises:
        UsageError: If a resumed search was started with other options, or `max_trials` is below
            the number of trials it already started.
        LogDirError: If KerasTuner's state files in the folder are damaged.
    """
    import shutil

    project = options.project_dir
    if options.overwrite and project.exists():
        shutil.rmtree(project)
    previous = records.load_search(project) if (project / records.SEARCH_FILE).is_file() else None
    if previous is not None:
        check_resumable(previous, options_record(options), project)
    repair_state_files(project)

    # Hyperband's budget, not `max_trials`, sets how many trials it runs.
    started = 0 if options.tuner == "hyperband" else started_trials(project)
    max_trials = resolve_max_trials(options.max_trials, previous, default=default_max_trials, started=started)
    options = replace(options, max_trials=max_trials)
    if previous is not None:
        _log_resume(options)
    state = {**(previous or {}), **options_record(options)}
    records.save_search(project, {**state, "status": "running"})
    return options, state


def _log_resume(options) -> None:
    """Log one line saying that the search resumes and how many of its trials have finished."""
    from kvsf_tune.tuning import collect_summaries

    # As in the progress display, a trial with a record counts as finished and one interrupted mid-way does not.
    finished = len(collect_summaries(options.project_dir))
    if options.tuner == "hyperband":
        # Hyperband's brackets, not `max_trials`, decide how many trials it runs.
        progress = f"{finished} {_trials(finished)} finished"
    else:
        progress = f"{finished} of {options.max_trials} {_trials(options.max_trials)} finished"
    logger.info("Resuming the search in %s: %s.", options.project_dir, progress)


def _trials(count: int) -> str:
    return "trial" if count == 1 else "trials"


def options_record(options) -> dict:
    """Return the options that `search.json` stores."""
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
        "space_sha256": space_digest(options.space),
    }


def check_resumable(previous: dict, current: dict, project: Path) -> None:
    """Check that a search's recorded options allow the current ones to go on with it.

    Raises:
        UsageError: Naming the first of `RESUME_KEYS` that differs.
    """
    # A record written before a key existed does not constrain it.
    for key in RESUME_KEYS:
        if key not in previous or previous[key] == current.get(key):
            continue
        if key == "space_sha256":
            change = f"a search space whose content differs from {current['space']}"
        else:
            change = f"{key}={previous[key]!r}, not {current.get(key)!r}"
        raise UsageError(
            f"Cannot resume the search in {project}: it was started with {change}. "
            "Pass the same options, another --project, or --overwrite."
        )


def check_joined_search(options, tuner_id: str) -> None:
    """Check that a worker's options match those of the search its chief started.

    Raises:
        LogDirError: If the folder contains no `search.json`, so it is not the chief's folder.
        UsageError: If an option of `RESUME_KEYS` differs.
    """
    project = options.project_dir
    if not (project / records.SEARCH_FILE).is_file():
        raise LogDirError(
            f"Worker {tuner_id} found no {records.SEARCH_FILE} in {project}, which the chief writes before it "
            "serves trials. Pass the chief's --logdir and --project, on a filesystem that both machines share."
        )
    check_resumable(records.load_search(project), options_record(options), project)


def started_trials(project: Path) -> int:
    """Return how many trials KerasTuner has started in a search folder, finished or not."""
    return sum(1 for _ in project.glob(f"trial_*/{KERAS_TUNER_TRIAL_FILE}"))


def resolve_max_trials(requested: int | None, previous: dict | None, *, default: int, started: int) -> int:
    """Return the number of trials a (resumed) search runs in total.

    An explicit value wins and may raise the previous one; without one, a resumed search keeps its
    recorded value, and a new search takes `default`.

    Raises:
        UsageError: If `requested` is below the number of trials already started.
    """
    if requested is None:
        recorded = (previous or {}).get("max_trials")
        return int(recorded) if recorded else default
    if requested < started:
        raise UsageError(
            f"Invalid --max-trials {requested}: the search already started {started} trials, which are kept. "
            f"Pass --max-trials {started} or more, or --overwrite to start over."
        )
    return requested


def repair_state_files(project: Path) -> None:
    """Prepare KerasTuner's state files of a search for a resume, or explain why it cannot resume.

    KerasTuner writes `oracle.json` and each `trial.json` in place. When it creates a trial, it
    writes the trial's `trial.json` first and `oracle.json` next. A trial folder that `oracle.json`
    does not list was never handed out, so it is removed and the oracle creates the trial again
    with the same id and values. A damaged file of a listed trial, or a damaged `oracle.json`,
    cannot be rebuilt.

    Raises:
        LogDirError: Naming the damaged file and the ways out.
    """
    import shutil

    oracle_state = _read_state(project / ORACLE_FILE, project) if (project / ORACLE_FILE).is_file() else {}
    listed = set(oracle_state.get("start_order", []))
    for path in sorted(project.glob(f"trial_*/{KERAS_TUNER_TRIAL_FILE}")):
        if path.parent.name.removeprefix("trial_") in listed:
            _read_state(path, project)
            continue
        if (path.parent / records.TRIAL_FILE).is_file():
            raise LogDirError(
                f"Cannot resume the search in {project}: {ORACLE_FILE} does not list the finished trial in "
                f"{path.parent}, so KerasTuner's state is incomplete. Start over with --overwrite, or use "
                "another --project."
            )
        logger.warning("Removing %s: the search stopped while KerasTuner created this trial.", path.parent)
        shutil.rmtree(path.parent)


def _read_state(path: Path, project: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LogDirError(
            f"Cannot resume the search in {project}: {path} is damaged ({error}); the search was probably "
            "killed while KerasTuner wrote it. Start over with --overwrite, or use another --project."
        ) from error


def space_digest(path: Path) -> str:
    """Return the SHA-256 of a search-space file, which a resumed search must match."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
