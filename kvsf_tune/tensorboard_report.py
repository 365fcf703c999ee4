"""Readings of a trial's final weights and accuracies: the weights table and the accuracy chart.

NumPy only; `kvsf_tune.tensorboard` writes the results as text and image summaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kvsf_tune.reliability import RunRecord

# Names of the plain models' Dense layers, in `get_weights()` order (see `kvsf_tune.models`).
LAYER_NAMES = {"voter": ("vote",), "matcher": ("shared", "hidden", "match")}

BIN_WIDTH = 0.01
BAR_PIXELS = 8
PLOT_HEIGHT = 160
MARGIN = 12
TICK_PIXELS = 6
# Grid lines mark every run while the tallest bar is at most this many runs.
MAX_GRID_RUNS = 20

WHITE = (255, 255, 255)
GRID = (225, 225, 225)
AXIS = (60, 60, 60)
BELOW_TARGET = (150, 150, 150)
AT_TARGET = (46, 139, 87)
TARGET_LINE = (214, 39, 40)


@dataclass(frozen=True)
class Chart:
    """A bar chart as an RGB image of shape (height, width, 3), uint8, and the text that explains it."""

    image: np.ndarray
    description: str


def representative_run(runs: Sequence[RunRecord]) -> RunRecord | None:
    """Return the run with the lowest final training loss, or `None` when no loss is finite."""
    finite = [run for run in runs if math.isfinite(run.train_loss)]
    return min(finite, key=lambda run: run.train_loss) if finite else None


def representative_table(record, bank) -> str:
    """Return a markdown table of the representative run's weights with a short reading of them.

    Args:
        record: The trial's `records.TrialRecord`.
        bank: The trained `ReplicaBank` the record describes.
    """
    run = representative_run(record.runs)
    if run is None:
        return "No run of this trial has a finite training loss, so no weights are shown."

    weights = bank.replica_weights(run.replica)
    body = _voter_table(weights) if record.model == "voter" else _matcher_table(weights)
    header = (
        f"**Representative run {run.run}**: the lowest final training loss ({run.train_loss:.4g}) of the trial's "
        f"runs; restart {run.restart}, replica {run.replica}, seed {run.seed}, "
        f"validation accuracy {run.val_accuracy:.4f}."
    )
    return f"{header}\n\n{body}"


def _voter_table(weights: list[np.ndarray]) -> str:
    kernel, bias = weights[0][:, 0].astype("float64"), float(weights[1][0])
    labels = [f"bit {index + 1}" for index in range(len(kernel))] + ["bias"]
    table = _one_row_table("weight", labels, [*kernel, bias])
    return "Layer `vote`:\n\n" + table + "\n\n" + _voter_reading(kernel, bias)


def _one_row_table(name: str, labels: list[str], values: list[float]) -> str:
    """Return a markdown table with one column per weight and a single row of values."""
    header = "| " + " | ".join(["", *labels]) + " |"
    rule = "|" + "---|" * (len(labels) + 1)
    row = "| " + " | ".join([name, *(f"{value:.4f}" for value in values)]) + " |"
    return "\n".join([header, rule, row])


def _voter_reading(kernel: np.ndarray, bias: float) -> str:
    if not (kernel > 0).all():
        return "Not all 9 weights are positive, so this run does not count ones the way a majority vote does."

    threshold = -bias / float(kernel.mean())
    place = "inside" if 4 < threshold < 5 else "outside"
    return (
        f"Decision threshold: -bias / mean weight = {threshold:.3f} ones; the largest weight is "
        f"{kernel.max() / kernel.min():.3f} times the smallest. "
        "The voter outputs 1 when the weighted count of ones exceeds -bias. "
        "With equal weights, that means more than -bias / weight of the 9 bits are ones. "
        "A 9-input majority needs at least 5 ones, so any threshold strictly between 4 and 5 reproduces it, "
        "and 4.5 leaves the widest margin on both sides. "
        f"This run's threshold lies {place} (4, 5)."
    )


def _matcher_table(weights: list[np.ndarray]) -> str:
    shared, shared_bias = weights[0][:, 0].astype("float64"), float(weights[1][0])
    hidden, hidden_bias = weights[2].astype("float64"), weights[3].astype("float64")
    match, match_bias = weights[4][:, 0].astype("float64"), float(weights[5][0])

    labels = [f"sample {index + 1}" for index in range(len(shared))] + ["bias"]
    shared_table = _one_row_table("weight", labels, [*shared, shared_bias])

    hidden_rows = ["| from | unit 1 | unit 2 |", "|---|---|---|"]
    for index, source in enumerate(("shared(s1)", "shared(s2)")):
        hidden_rows.append(f"| {source} | {hidden[index, 0]:+.4f} | {hidden[index, 1]:+.4f} |")
    hidden_rows.append(f"| bias | {hidden_bias[0]:+.4f} | {hidden_bias[1]:+.4f} |")

    return "\n\n".join(
        [
            "Layer `shared`, applied to each input's 5 samples:",
            shared_table,
            _shared_reading(shared),
            "Layer `hidden` (2 units) on the two shared outputs:",
            "\n".join(hidden_rows),
            _hidden_reading(hidden),
            f"Layer `match`: weights {match[0]:+.4f}, {match[1]:+.4f}, bias {match_bias:+.4f}.",
        ]
    )


def _shared_reading(shared: np.ndarray) -> str:
    mean = float(shared.mean())
    variation = float(shared.std() / abs(mean)) if mean != 0 else math.inf
    if (shared > 0).all() or (shared < 0).all():
        spread = f"the largest |weight| is {np.abs(shared).max() / np.abs(shared).min():.3f} times the smallest"
    else:
        spread = "the weights have mixed signs"
    return (
        f"Coefficient of variation of the 5 weights: {variation:.3f}, and {spread}. "
        "With 5 equal weights w the unit computes tanh(5 w mean(s) + bias), a function of the sample mean. "
        "For samples with unit-variance normal noise, their sum carries all the evidence on whether the mean "
        "is -1 or +1."
    )


def _hidden_reading(hidden: np.ndarray) -> str:
    signs = [["+" if value >= 0 else "-" for value in row] for row in hidden]
    pattern = ", ".join("(" + ", ".join(row) + ")" for row in signs)
    kinds = ["the sum" if signs[0][unit] == signs[1][unit] else "the difference" for unit in range(2)]
    if kinds[0] == kinds[1]:
        reading = f"both units respond to {kinds[0]}"
    else:
        reading = f"unit 1 responds to {kinds[0]} and unit 2 to {kinds[1]}"
    return (
        f"Sign pattern by row: {pattern}. A unit whose two weights share a sign responds to the sum "
        "of the two shared outputs (both means +1 or both -1), opposite signs to their difference "
        f"(the means differ). Here {reading}."
    )


def accuracy_chart(accuracies: np.ndarray, *, target: float) -> Chart:
    """Draw the runs' final validation accuracies as a bar chart with the target marked.

    Args:
        accuracies: Final validation accuracy of each run, all finite.
        target: Target accuracy of a run.

    Returns:
        The chart: bins of 0.01 from 0.5 (or lower, when a run is lower) to 1.0.
    """
    accuracies = np.asarray(accuracies, dtype="float64")
    low = min(0.5, math.floor(accuracies.min() * 10) / 10)
    bins = int(round((1.0 - low) / BIN_WIDTH))
    # The small offset keeps values such as 0.97 (0.9699999... after the division) in their own bin.
    index = np.floor((accuracies - low) / BIN_WIDTH + 1e-6).astype(int)
    counts = np.bincount(np.clip(index, 0, bins - 1), minlength=bins)

    image = _blank(bins)
    tallest = int(counts.max())
    if tallest <= MAX_GRID_RUNS:
        _draw_grid(image, tallest)
    _draw_bars(image, counts, low=low, target=target)
    _draw_axis(image, bins, low=low, target=target)
    description = (
        f"Final validation accuracy of the {len(accuracies)} runs' kept restarts. "
        f"x axis: {low:.1f} to 1.0 in bins of {BIN_WIDTH}, tick marks every 0.1. "
        f"Bar height: runs per bin; the tallest bar is {tallest} runs"
        f"{', and each grey line marks one run' if tallest <= MAX_GRID_RUNS else ''}. "
        f"Green bars: bins at or above the target accuracy {target}, marked by the red line."
    )
    return Chart(image=image, description=description)


def _blank(bins: int) -> np.ndarray:
    height = PLOT_HEIGHT + 2 * MARGIN + TICK_PIXELS
    width = bins * BAR_PIXELS + 2 * MARGIN
    return np.full((height, width, 3), WHITE, dtype="uint8")


def _bottom() -> int:
    """Return the image row of the x axis."""
    return MARGIN + PLOT_HEIGHT


def _draw_grid(image: np.ndarray, tallest: int) -> None:
    for runs in range(1, tallest + 1):
        row = _bottom() - round(runs / tallest * PLOT_HEIGHT)
        image[row, MARGIN:-MARGIN] = GRID


def _draw_bars(image: np.ndarray, counts: np.ndarray, *, low: float, target: float) -> None:
    tallest = max(int(counts.max()), 1)
    for index, count in enumerate(counts):
        if count == 0:
            continue
        top = _bottom() - round(count / tallest * PLOT_HEIGHT)
        left = MARGIN + index * BAR_PIXELS
        passing = low + index * BIN_WIDTH >= target - 1e-9
        # One blank column between bars keeps neighbours apart.
        image[top : _bottom(), left : left + BAR_PIXELS - 1] = AT_TARGET if passing else BELOW_TARGET


def _draw_axis(image: np.ndarray, bins: int, *, low: float, target: float) -> None:
    image[_bottom(), MARGIN : MARGIN + bins * BAR_PIXELS] = AXIS
    for tenth in range(round(low * 10), 11):
        column = MARGIN + round((tenth / 10 - low) / BIN_WIDTH) * BAR_PIXELS
        image[_bottom() : _bottom() + TICK_PIXELS, max(column - 1, 0) : column + 1] = AXIS

    if low <= target <= 1.0:
        column = MARGIN + round((target - low) / BIN_WIDTH * BAR_PIXELS)
        image[MARGIN : _bottom(), max(column - 1, 0) : column + 1] = TARGET_LINE
