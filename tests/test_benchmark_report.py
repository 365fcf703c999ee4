"""Tests of kvsf_tune.benchmark_report: rows, goals, machine facts and the printed table."""

from __future__ import annotations

import pytest

from kvsf_tune import benchmark_report
from kvsf_tune.benchmark_report import BankTiming


def _report(banks: tuple[BankTiming, ...]) -> benchmark_report.BenchmarkReport:
    return benchmark_report.BenchmarkReport(
        settings={"learning_rate": 0.01, "batch_size": 4, "epochs": 10, "train_rows": 8000, "validation_rows": 2000},
        plain_seconds_per_fit=24.0,
        tuned_seconds_per_fit=6.0,
        plain_fits=1,
        banks=banks,
    )


def test_bank_rows_seconds_per_fit():
    report = _report((BankTiming(replicas=64, seconds=4.0, compile_seconds=1.0, peak_rss_mb=900.0),))
    assert report.bank_rows()[0]["seconds_per_fit"] == pytest.approx(0.0625)


def test_bank_rows_speedups():
    report = _report((BankTiming(replicas=64, seconds=4.0, compile_seconds=1.0, peak_rss_mb=900.0),))
    row = report.bank_rows()[0]
    assert row["speedup_vs_plain"] == pytest.approx(24.0 / 0.0625)
    assert row["speedup_vs_tuned"] == pytest.approx(6.0 / 0.0625)


def test_goal_checks_met_and_missed():
    banks = (
        BankTiming(replicas=64, seconds=4.0, compile_seconds=1.0, peak_rss_mb=900.0),
        BankTiming(replicas=256, seconds=6.0, compile_seconds=1.0, peak_rss_mb=2500.0),
    )
    verdicts = [goal["met"] for goal in benchmark_report.goal_checks(_report(banks))]
    assert verdicts == [True, True, False]


def test_goal_checks_unmeasured_sizes():
    banks = (BankTiming(replicas=2, seconds=1.0, compile_seconds=None, peak_rss_mb=700.0),)
    assert all(goal["met"] is None for goal in benchmark_report.goal_checks(_report(banks)))


def test_format_table_lists_each_size():
    banks = tuple(BankTiming(replicas=size, seconds=5.0, compile_seconds=None, peak_rss_mb=800.0) for size in (16, 64))
    rows = [line.split()[0] for line in benchmark_report.format_table(_report(banks)).splitlines() if line[:8].strip().isdigit()]
    assert rows == ["16", "64"]


def test_machine_info_cpu_count():
    assert benchmark_report.machine_info()["cpu_count"] >= 1


def test_library_versions_tensorflow():
    assert benchmark_report.library_versions()["tensorflow"].startswith("2.")
