"""Confirmation of the best settings on fresh seeds, and summaries of trials that crashed.

A search's trials are ranked on the same runs that chose them, so the winner's score is biased
upwards. Training the winner again on seeds that no trial used gives an unbiased pass rate.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kvsf_tune import records, reliability
from kvsf_tune.reliability import TrialSummary

logger = logging.getLogger(__name__)

# KerasTuner's statuses of a trial that ended without a result.
_FAILED_STATUSES = ("FAILED", "INVALID")


def confirm_best(hypermodel, ranked: list[TrialSummary], project: Path, *, options, progress=None) -> list[dict]:
    """Confirm the best-ranked reliable trials in order until one is reliable again.

    Args:
        hypermodel: The search's `ReliabilityHyperModel`.
        ranked: The search's trials, best first.
        project: The search's folder.
        options: The search's `SearchOptions`.
        progress: Progress reporter, or `None`.

    Returns:
        One confirmation dict per confirmed trial, in the order they were tried; the last one is
        the winner when its `reliable` is true.
    """
    from kvsf_tune.tuning import MAX_CONFIRMATIONS

    candidates = [s for s in ranked if reliability.is_reliable(s, options.required_pass_rate)]
    confirmations = []
    for summary in candidates[:MAX_CONFIRMATIONS]:
        record = _confirmation_record(hypermodel, summary, project, options=options, progress=progress)
        confirmation = confirmation_json(record.summary, trial_id=summary.trial_id, required=options.required_pass_rate)
        confirmations.append(confirmation)
        if confirmation["reliable"]:
            break
        logger.info("Trial %s did not confirm on fresh seeds; trying the next reliable setting.", summary.trial_id)
    return confirmations


def confirmation_json(summary: TrialSummary, *, trial_id: str, required: float) -> dict:
    """Return the documented `confirmation` object of a confirmation's summary."""
    return {
        "trial_id": trial_id,
        "runs": summary.runs,
        "passes": summary.passes,
        "pass_rate": summary.pass_rate,
        "pass_rate_lower_bound": summary.pass_rate_lower_bound,
        "reliable": reliability.is_reliable(summary, required),
    }


def _confirmation_record(hypermodel, summary: TrialSummary, project: Path, *, options, progress):
    from kvsf_tune.tuner import train_and_record

    folder = records.confirmation_dir(project, summary.trial_id)
    if (folder / records.TRIAL_FILE).is_file():
        existing = records.load_trial(folder)
        if existing.summary.runs == options.confirmation_runs:
            logger.info("Reusing the confirmation of trial %s from %s.", summary.trial_id, folder)
            return existing

    trial = records.load_trial(records.trial_dir(project, summary.trial_id))
    seeds, shuffle_seed = fresh_seeds(hypermodel, trial.setting, project, runs=options.confirmation_runs)
    return train_and_record(
        hypermodel,
        trial.setting,
        folder,
        trial_id=summary.trial_id,
        hyperparameters=summary.hyperparameters,
        seeds=seeds,
        shuffle_seed=shuffle_seed,
        confirmation_of=summary.trial_id,
        progress=progress,
    )


def fresh_seeds(hypermodel, setting: dict, project: Path, *, runs: int) -> tuple[list[int], int]:
    """Draw replica seeds for a confirmation that no trial of the search has used."""
    used = {seed for trial in records.load_trials(project) for seed in trial.replica_seeds}
    attempt = 0
    while True:
        seeds, shuffle_seed = hypermodel.seeds_for(setting, salt=f"confirmation-{attempt}", runs=runs)
        if used.isdisjoint(seeds):
            return seeds, shuffle_seed
        attempt += 1


def failed_trial_summary(folder: Path) -> TrialSummary | None:
    """Summarise a trial that KerasTuner recorded as failed, from its `trial.json`.

    Returns `None` for a trial that has not ended (for example one interrupted mid-way).
    """
    path = folder / "trial.json"
    if not path.is_file():
        return None
    trial = json.loads(path.read_text())
    if trial.get("status") not in _FAILED_STATUSES:
        return None

    values = trial.get("hyperparameters", {}).get("values", {})
    return TrialSummary(
        trial_id=str(trial["trial_id"]),
        hyperparameters={k: v for k, v in values.items() if not k.startswith("tuner/")},
        status=reliability.FAILED,
        runs=0,
        passes=0,
        pass_rate=0.0,
        pass_rate_lower_bound=0.0,
        val_accuracy={"mean": None, "min": None, "max": None},
        fit_seconds=0.0,
        cost=0,
        message=failure_reason(trial.get("message")),
    )


def failure_reason(message: str | None) -> str:
    """Return the last line of a failed trial's traceback, without KerasTuner's FailedTrialError prefix.

    `run_trial` raises `FailedTrialError` with the reason a trial failed (its runs diverged), so
    that class name adds nothing. Any other exception keeps its class name, as in `ValueError: ...`.
    """
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return "failed without a message"
    prefix = "FailedTrialError: "
    last = lines[-1]
    return last.split(prefix, 1)[1] if prefix in last else last
