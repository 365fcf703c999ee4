"""Plain-text reports of a search: the ranked trial table and the final verdict."""

from __future__ import annotations

import shlex
from pathlib import Path

from kvsf_tune.options import DEFAULT_LOG_DIR
from kvsf_tune.progress import describe
from kvsf_tune.reliability import COMPLETED, TrialSummary, runs_needed, wilson_lower_bound

_COLUMNS = (
    ("rank", 4),
    ("trial", 5),
    ("optimizer", 9),
    ("lr", 8),
    ("momentum", 8),
    ("batch", 5),
    ("epochs", 6),
    ("restarts", 8),
    ("passed", 7),
    ("bound", 6),
    ("val acc mean [min, max]", 23),
    ("cost", 8),
    ("seconds", 7),
)


def trial_table(result) -> str:
    """Return the ranked table of a `SearchResult`; the last column marks reliable trials."""
    lines = [_row([name for name, _ in _COLUMNS] + ["note"])]
    for rank, summary in enumerate(result.trials, start=1):
        lines.append(_row(_cells(rank, summary) + [_note(result, summary)]))
    lines.append("")
    lines.append(
        f"bound: 95% Wilson lower bound of the pass rate, reliable at >= {result.required_pass_rate}. "
        "cost: optimizer steps per run (epochs x restarts x steps per epoch), which breaks ties. "
        "seconds: training time of the trial's bank."
    )
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    widths = [width for _, width in _COLUMNS] + [0]
    return "  ".join(cell.rjust(width) if width else cell for cell, width in zip(cells, widths)).rstrip()


def _cells(rank: int, summary: TrialSummary) -> list[str]:
    hp = summary.hyperparameters
    accuracy = summary.val_accuracy
    spread = "-"
    if accuracy.get("mean") is not None:
        spread = f"{accuracy['mean']:.3f} [{accuracy['min']:.3f}, {accuracy['max']:.3f}]"
    return [
        str(rank),
        summary.trial_id,
        str(hp.get("optimizer", "-")),
        _number(hp.get("learning_rate")),
        _number(hp.get("momentum")),
        str(hp.get("batch_size", "-")),
        str(hp.get("epochs", "-")),
        str(hp.get("restarts", "-")),
        f"{summary.passes}/{summary.runs}",
        f"{summary.pass_rate_lower_bound:.3f}",
        spread,
        str(summary.cost),
        f"{summary.fit_seconds:.1f}",
    ]


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _note(result, summary: TrialSummary) -> str:
    if summary.status != COMPLETED:
        return f"failed: {summary.message}"
    notes = []
    if result.is_reliable_trial(summary):
        notes.append("reliable")
    confirmation = next((c for c in result.confirmations if c["trial_id"] == summary.trial_id), None)
    if confirmation is not None:
        verdict = "confirmed" if confirmation["reliable"] else "not confirmed"
        notes.append(f"{verdict} {confirmation['passes']}/{confirmation['runs']}")
    if result.reliable and summary.trial_id == result.best:
        notes.append("WINNER")
    return ", ".join(notes)


def verdict(result) -> str:
    """Return the one-paragraph outcome of a search."""
    if not result.finished:
        return _unfinished(result)
    if not result.trials:
        return "No trial finished; nothing to rank."
    if all(summary.status != COMPLETED for summary in result.trials):
        return f"Every trial failed ({len(result.trials)} of {len(result.trials)}); see the table for the reasons."
    best = next(summary for summary in result.trials if summary.trial_id == result.best)
    setting = describe(best.hyperparameters)
    if result.reliable:
        c = result.confirmation
        return (
            f"Reliable setting found: trial {best.trial_id} ({setting}). It passed {best.passes}/{best.runs} "
            f"runs in the search and {c['passes']}/{c['runs']} on fresh seeds "
            f"(lower bound {c['pass_rate_lower_bound']:.3f} >= {result.required_pass_rate}).\n"
            f"Next: `kvsf-tune export {result.model}{_search_location(result)}` writes it as a .keras model; "
            f"`kvsf-tune tensorboard{_log_dir_option(result)}` shows every trial."
        )
    if result.confirmations:
        c = result.confirmation
        return (
            f"No reliable setting confirmed. Trial {c['trial_id']} was reliable in the search but passed only "
            f"{c['passes']}/{c['runs']} runs on fresh seeds (lower bound {c['pass_rate_lower_bound']:.3f} < "
            f"{result.required_pass_rate}). Try more trials (--max-trials) or another search space (--space)."
        )
    if wilson_lower_bound(best.runs, best.runs) < result.required_pass_rate:
        return (
            f"No reliable setting found, and none could be: with {best.runs} runs even a perfect score has a "
            f"lower bound of {wilson_lower_bound(best.runs, best.runs):.3f} < {result.required_pass_rate}. "
            f"Best: trial {best.trial_id} ({setting}), {best.passes}/{best.runs} runs passed. "
            f"Use --runs {runs_needed(result.required_pass_rate)} or more."
        )
    return (
        f"No reliable setting found. Best: trial {best.trial_id} ({setting}), {best.passes}/{best.runs} runs "
        f"passed, lower bound {best.pass_rate_lower_bound:.3f} < {result.required_pass_rate}. "
        "Try more trials (--max-trials), another search space (--space) or a lower --required-pass-rate."
    )


def _unfinished(result) -> str:
    recorded = len(result.trials)
    if result.max_trials:
        count = f"{recorded} of {result.max_trials} trials"
    else:
        count = f"{recorded} trial" if recorded == 1 else f"{recorded} trials"
    resume = f"`{result.resume_command}`" if result.resume_command else "the same `kvsf-tune search` command"
    return (
        f"The search has not finished: {count} recorded. It was stopped, or it "
        f"is still running in another process. To resume it, run {resume}."
    )


def _search_location(result) -> str:
    """Return the command-line options that locate this search, or "" for the default location."""
    project = result.project_dir.name
    project_option = "" if project == result.model else f" --project {shlex.quote(project)}"
    return _log_dir_option(result) + project_option


def _log_dir_option(result) -> str:
    log_dir = result.project_dir.parent
    if log_dir.resolve() == Path(DEFAULT_LOG_DIR).resolve():
        return ""
    return f" --logdir {shlex.quote(str(log_dir))}"
