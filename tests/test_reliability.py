"""Tests of the pass-rate statistics, restart choice and ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kvsf_tune import reliability
from kvsf_tune.reliability import TrialSummary


@pytest.mark.parametrize(
    ("passes", "runs", "expected"),
    [
        # Published Wilson 95% intervals: 5/10 -> (0.2366, 0.7634), 0/10 -> (0, 0.2775).
        (5, 10, 0.2366),
        (0, 10, 0.0),
        # A perfect score n/n has lower bound n / (n + z^2) with z = 1.95996.
        (48, 48, 48 / (48 + 1.959964**2)),
        (64, 64, 64 / (64 + 1.959964**2)),
    ],
)
def test_wilson_lower_bound_known_cases(passes, runs, expected):
    assert reliability.wilson_lower_bound(passes, runs) == pytest.approx(expected, abs=1e-4)


def test_wilson_lower_bound_no_runs_is_zero():
    assert reliability.wilson_lower_bound(0, 0) == 0.0


def test_wilson_lower_bound_grows_with_runs():
    assert reliability.wilson_lower_bound(20, 20) < reliability.wilson_lower_bound(40, 40)


def test_runs_needed_for_ninety_percent():
    runs = reliability.runs_needed(0.9)

    assert reliability.wilson_lower_bound(runs, runs) >= 0.9
    assert reliability.wilson_lower_bound(runs - 1, runs - 1) < 0.9


def test_default_runs_clear_the_bar_only_when_perfect():
    from kvsf_tune.options import DEFAULT_RUNS

    assert reliability.wilson_lower_bound(DEFAULT_RUNS, DEFAULT_RUNS) >= reliability.DEFAULT_REQUIRED_PASS_RATE


def test_choose_restarts_takes_lowest_training_loss():
    losses = np.array([0.5, 0.1, 0.3, 0.2, 0.9, 0.8])

    chosen = reliability.choose_restarts(losses, restarts=3)

    assert chosen.tolist() == [1, 3]


def test_choose_restarts_skips_nan_losses():
    losses = np.array([np.nan, 0.4, np.inf, 0.7])

    chosen = reliability.choose_restarts(losses, restarts=2)

    assert chosen.tolist() == [1, 3]


def test_run_records_ignore_validation_when_choosing():
    # Restart 0 has the better validation accuracy but the worse training loss.
    records = reliability.run_records(
        seeds=np.array([11, 12]),
        train_loss=np.array([0.6, 0.2]),
        val_accuracy=np.array([0.99, 0.90]),
        diverged=np.array([False, False]),
        restarts=2,
        target=0.95,
    )

    assert records[0].restart == 1
    assert records[0].seed == 12
    assert records[0].passed is False
    assert records[0].restart_seeds == (11, 12)


def test_run_records_mark_diverged_runs():
    records = reliability.run_records(
        seeds=np.array([1, 2, 3, 4]),
        train_loss=np.array([np.nan, 0.1, 0.2, 0.3]),
        val_accuracy=np.array([0.5, 0.97, 0.97, 0.97]),
        diverged=np.array([True, False, False, False]),
        restarts=2,
        target=0.95,
    )

    assert records[0].diverged is True
    assert records[0].passed is False
    assert records[1].passed is True


def _summary(trial_id: str, bound: float, cost: int, mean: float, status: str = reliability.COMPLETED):
    return TrialSummary(
        trial_id=trial_id,
        hyperparameters={},
        status=status,
        runs=10,
        passes=10,
        pass_rate=1.0,
        pass_rate_lower_bound=bound,
        val_accuracy={"mean": mean, "min": mean, "max": mean},
        fit_seconds=1.0,
        cost=cost,
    )


def test_rank_orders_by_bound_then_cost_then_accuracy():
    trials = [
        _summary("a", 0.8, 100, 0.97),
        _summary("b", 0.9, 500, 0.96),
        _summary("c", 0.9, 200, 0.95),
        _summary("d", 0.9, 200, 0.97),
    ]

    ranked = [summary.trial_id for summary in reliability.rank(trials)]

    assert ranked == ["d", "c", "b", "a"]


def test_rank_puts_failed_trials_last():
    trials = [_summary("failed", 1.0, 1, 1.0, status=reliability.FAILED), _summary("ok", 0.1, 1000, 0.5)]

    ranked = reliability.rank(trials)

    assert ranked[-1].trial_id == "failed"


def test_summarize_counts_passes_and_failures():
    records = reliability.run_records(
        seeds=np.arange(4),
        train_loss=np.array([0.1, 0.2, np.nan, 0.3]),
        val_accuracy=np.array([0.97, 0.96, 0.5, 0.5]),
        diverged=np.array([False, False, True, False]),
        restarts=1,
        target=0.95,
    )

    summary = reliability.summarize("07", {"restarts": 1}, records, fit_seconds=2.0, cost=10)

    assert summary.passes == 2
    assert summary.status == reliability.FAILED
    assert "1 of 4 runs diverged" in summary.message
    assert math.isclose(summary.pass_rate, 0.5)


def test_is_reliable_needs_completed_status():
    summary = _summary("x", 0.95, 1, 0.97, status=reliability.FAILED)

    assert reliability.is_reliable(summary, 0.9) is False
