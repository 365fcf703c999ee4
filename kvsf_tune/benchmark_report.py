"""The benchmark's report: its timings, the design goals they meet, the machine and the table.

`kvsf_tune.benchmark` takes the timings. This module contains the resulting report, checks it
against the design goals and formats it, without importing TensorFlow.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata

# Targets the bank was designed for. The report states whether this machine meets them.
GOAL_REPLICAS = 64
GOAL_SPEEDUP_VS_PLAIN = 300.0
GOAL_SPEEDUP_VS_TUNED = 50.0
GOAL_MEMORY_REPLICAS = 256
GOAL_PEAK_RSS_MB = 2048.0


@dataclass(frozen=True)
class BankTiming:
    """One bank size timed in its own process.

    Attributes:
        replicas: Number of replicas in the bank, which is the number of seeds it fits.
        seconds: Wall time from building the bank to the end of training, the XLA compile and the
            final measurements of both splits included.
        compile_seconds: Estimate of the one-off compile: the first epoch's time minus the median
            of the later epochs; `None` with a single epoch.
        peak_rss_mb: Peak resident memory of the process, TensorFlow itself included, in MiB.
    """

    replicas: int
    seconds: float
    compile_seconds: float | None
    peak_rss_mb: float


@dataclass(frozen=True)
class BenchmarkReport:
    """Every timing of one benchmark, with the settings, machine and library versions."""

    settings: dict
    plain_seconds_per_fit: float
    tuned_seconds_per_fit: float
    plain_fits: int
    banks: tuple[BankTiming, ...]
    machine: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    def bank_rows(self) -> list[dict]:
        """Return one dict per bank size with its seconds per fit and speed-ups over both baselines."""
        rows = []
        for bank in self.banks:
            per_fit = bank.seconds / bank.replicas
            row = asdict(bank)
            row["seconds_per_fit"] = per_fit
            row["speedup_vs_plain"] = self.plain_seconds_per_fit / per_fit
            row["speedup_vs_tuned"] = self.tuned_seconds_per_fit / per_fit
            rows.append(row)
        return rows

    def to_json(self) -> dict:
        return {
            "baseline": {
                "plain_seconds_per_fit": self.plain_seconds_per_fit,
                "tuned_seconds_per_fit": self.tuned_seconds_per_fit,
                "plain_fits": self.plain_fits,
            },
            "bank": self.bank_rows(),
            "goals": goal_checks(self),
            "settings": self.settings,
            "machine": self.machine,
            "versions": self.versions,
        }


def goal_checks(report: BenchmarkReport) -> list[dict]:
    """Compare a report with the design goals; `met` is `None` when the size was not timed."""
    rows = {row["replicas"]: row for row in report.bank_rows()}
    at_speed, at_memory = rows.get(GOAL_REPLICAS), rows.get(GOAL_MEMORY_REPLICAS)
    checks = [
        (f"speed-up vs plain at {GOAL_REPLICAS} replicas", ">=", GOAL_SPEEDUP_VS_PLAIN, at_speed, "speedup_vs_plain"),
        (f"speed-up vs tuned at {GOAL_REPLICAS} replicas", ">=", GOAL_SPEEDUP_VS_TUNED, at_speed, "speedup_vs_tuned"),
        (f"peak RSS MiB at {GOAL_MEMORY_REPLICAS} replicas", "<", GOAL_PEAK_RSS_MB, at_memory, "peak_rss_mb"),
    ]
    return [_goal(name, relation, target, row, key) for name, relation, target, row, key in checks]


def _goal(name: str, relation: str, target: float, row: dict | None, key: str) -> dict:
    measured = None if row is None else row[key]
    met = None
    if measured is not None:
        met = measured >= target if relation == ">=" else measured < target
    return {"goal": name, "target": f"{relation} {target:g}", "measured": measured, "met": met}


def machine_info() -> dict:
    """Return the CPU count, CPU model, memory and platform of this machine."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def library_versions() -> dict:
    """Return the installed versions of kvsf-tune and the libraries the timings depend on."""
    versions = {}
    for name in ("kvsf-tune", "tensorflow", "keras", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def format_table(report: BenchmarkReport) -> str:
    """Format a report as the plain-text table `kvsf-tune benchmark` prints."""
    settings = report.settings
    lines = [
        f"Matcher, SGD lr {settings['learning_rate']:g}, batch {settings['batch_size']}, {settings['epochs']} epochs, "
        f"{settings['train_rows']} training rows, validation on {settings['validation_rows']} rows after each epoch",
        f"plain model.fit, Keras defaults:               {report.plain_seconds_per_fit:8.2f} s per fit "
        f"(mean of {report.plain_fits})",
        f"plain model.fit, steps_per_execution and XLA:  {report.tuned_seconds_per_fit:8.2f} s per fit "
        f"(mean of {report.plain_fits})",
        "",
        f"{'replicas':>8} {'seconds':>8} {'compile s':>9} {'s per fit':>9} {'vs plain':>9} {'vs tuned':>9} {'peak RSS MiB':>12}",
    ]
    for row in report.bank_rows():
        lines.append(_table_row(row))
    lines.append("")
    lines.extend(_goal_line(goal) for goal in goal_checks(report))
    return "\n".join(lines)


def _table_row(row: dict) -> str:
    compile_seconds = "-" if row["compile_seconds"] is None else f"{row['compile_seconds']:.2f}"
    return (
        f"{row['replicas']:>8} {row['seconds']:>8.2f} {compile_seconds:>9} {row['seconds_per_fit']:>9.4f} "
        f"{row['speedup_vs_plain']:>8.1f}x {row['speedup_vs_tuned']:>8.1f}x {row['peak_rss_mb']:>12.0f}"
    )


def _goal_line(goal: dict) -> str:
    verdict = {True: "met", False: "NOT met", None: "not measured"}[goal["met"]]
    measured = "" if goal["measured"] is None else f", measured {goal['measured']:.1f}"
    return f"goal: {goal['goal']} {goal['target']}{measured}: {verdict}"
