"""Reliability of a setting: per-run pass, restart choice, Wilson bound and the ranking of trials.

A run is one independent training of a setting. It keeps the restart with the lowest final
training loss, so validation data never takes part in that choice. The run passes when that
restart's final validation accuracy is at least the target accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

DEFAULT_TARGET = 0.95
DEFAULT_REQUIRED_PASS_RATE = 0.9
CONFIDENCE = 0.95

COMPLETED = "completed"
FAILED = "failed"


@dataclass(frozen=True)
class RunRecord:
    """One run of a trial.

    Attributes:
        run: Index of the run within its trial.
        seed: Initialisation seed of the kept restart; with the trial's shuffle seed it rebuilds
            and retrains this run alone.
        restart: Index of the kept restart within the run.
        replica: Index of the kept restart in the trial's replica bank.
        train_loss: Loss of the kept restart's final weights on the training split.
        val_accuracy: Final validation accuracy of the kept restart.
        passed: Whether `val_accuracy` reached the target accuracy.
        diverged: Whether any restart of the run reached a NaN or infinite loss.
        restart_seeds: Initialisation seeds of all the run's restarts.
    """

    run: int
    seed: int
    restart: int
    replica: int
    train_loss: float
    val_accuracy: float
    passed: bool
    diverged: bool
    restart_seeds: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class TrialSummary:
    """The reliability of one trial's setting, as `--json` and `kvsf-tune trials` show it."""

    trial_id: str
    hyperparameters: dict
    status: str
    runs: int
    passes: int
    pass_rate: float
    pass_rate_lower_bound: float
    val_accuracy: dict
    fit_seconds: float
    cost: int
    message: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrialSummary:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def wilson_lower_bound(passes: int, runs: int, confidence: float = CONFIDENCE) -> float:
    """Return the lower end of the Wilson score interval of a pass rate.

    Args:
        passes: Runs that reached the target accuracy.
        runs: Runs in all; 0 gives 0.0.
        confidence: Two-sided confidence level. Defaults to `0.95` (z = 1.96).
    """
    if runs <= 0:
        return 0.0
    z = _normal_quantile(0.5 + confidence / 2)
    rate = passes / runs
    centre = rate + z * z / (2 * runs)
    spread = z * math.sqrt(rate * (1 - rate) / runs + z * z / (4 * runs * runs))
    return max(0.0, (centre - spread) / (1 + z * z / runs))


def _normal_quantile(probability: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(probability)


def runs_needed(required_pass_rate: float, confidence: float = CONFIDENCE) -> int:
    """Return the fewest runs whose perfect score has a Wilson lower bound >= `required_pass_rate`."""
    runs = 1
    while wilson_lower_bound(runs, runs, confidence) < required_pass_rate:
        runs += 1
    return runs


def choose_restarts(train_loss: np.ndarray, restarts: int) -> np.ndarray:
    """Return, for each run, the replica index of its restart with the lowest final training loss.

    Replicas are grouped run by run: replica `k` is restart `k % restarts` of run `k // restarts`.
    A NaN or infinite loss never wins unless every restart of the run has one.
    """
    losses = np.asarray(train_loss, dtype="float64").reshape(-1, restarts)
    ranked = np.where(np.isfinite(losses), losses, np.inf)
    return np.argmin(ranked, axis=1) + np.arange(len(losses)) * restarts


def run_records(
    *,
    seeds: np.ndarray,
    train_loss: np.ndarray,
    val_accuracy: np.ndarray,
    diverged: np.ndarray,
    restarts: int,
    target: float,
) -> list[RunRecord]:
    """Turn per-replica results of a bank into one `RunRecord` per run."""
    chosen = choose_restarts(train_loss, restarts)
    records = []
    for run, replica in enumerate(chosen):
        group = slice(run * restarts, (run + 1) * restarts)
        accuracy = float(val_accuracy[replica])
        run_diverged = bool(np.any(diverged[group]))
        records.append(
            RunRecord(
                run=run,
                seed=int(seeds[replica]),
                restart=int(replica - run * restarts),
                replica=int(replica),
                train_loss=float(train_loss[replica]),
                val_accuracy=accuracy,
                passed=bool(accuracy >= target and not run_diverged),
                diverged=run_diverged,
                restart_seeds=tuple(int(seed) for seed in seeds[group]),
            )
        )
    return records


def summarize(
    trial_id: str,
    hyperparameters: dict,
    records: Sequence[RunRecord],
    *,
    fit_seconds: float,
    cost: int,
) -> TrialSummary:
    """Summarise a trial's runs; a trial with a diverged run is marked failed with the reason."""
    accuracies = np.array([record.val_accuracy for record in records], dtype="float64")
    passes = sum(record.passed for record in records)
    diverged = sum(record.diverged for record in records)
    status, message = COMPLETED, ""
    if diverged:
        status = FAILED
        message = f"{diverged} of {len(records)} runs diverged (NaN or infinite loss)"

    finite = accuracies[np.isfinite(accuracies)]
    return TrialSummary(
        trial_id=trial_id,
        hyperparameters=dict(hyperparameters),
        status=status,
        runs=len(records),
        passes=int(passes),
        pass_rate=passes / len(records) if records else 0.0,
        pass_rate_lower_bound=wilson_lower_bound(passes, len(records)),
        val_accuracy=_spread(finite),
        fit_seconds=round(float(fit_seconds), 3),
        cost=int(cost),
        message=message,
    )


def _spread(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def training_cost(*, epochs: int, restarts: int, steps_per_epoch: int) -> int:
    """Return a run's compute cost in optimizer steps: epochs x restarts x steps per epoch."""
    return int(epochs * restarts * steps_per_epoch)


def is_reliable(summary: TrialSummary, required_pass_rate: float) -> bool:
    """Return whether a completed trial's pass-rate lower bound reaches `required_pass_rate`."""
    return summary.status == COMPLETED and summary.pass_rate_lower_bound >= required_pass_rate


def rank(trials: Iterable[TrialSummary]) -> list[TrialSummary]:
    """Sort trials best first: completed before failed, then by lower bound, lower cost, mean accuracy."""

    def key(summary: TrialSummary):
        mean = summary.val_accuracy.get("mean")
        return (
            summary.status != COMPLETED,
            -summary.pass_rate_lower_bound,
            summary.cost,
            -(mean if mean is not None else 0.0),
            summary.trial_id,
        )

    return sorted(trials, key=key)
