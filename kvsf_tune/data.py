"""The exercise's datasets, drawn exactly as the original notebook draws them.

The exercise seeds NumPy's legacy global generator once and then draws the voter's bits before the
matcher's means and samples, so the matcher's arrays depend on the voter's draws coming first. Both
functions replay that sequence on a private `np.random.RandomState`, so they return the exercise's
arrays bit for bit and never touch the global generator.
"""

from __future__ import annotations

import numpy as np

from kvsf_tune.errors import UsageError

VOTER_ROWS = 1000
VOTER_BITS = 9
MATCHER_ROWS = 10_000
MATCHER_SAMPLES = 5

# Keras's `validation_split=0.2` keeps the last 20% of the rows, unshuffled, for validation.
VALIDATION_FRACTION = 0.2

MODEL_NAMES = ("voter", "matcher")


def unknown_model_message(model: str) -> str:
    """Return the message for a model name that is not in `MODEL_NAMES`, worded alike everywhere."""
    return f"Unknown model {model!r}: use one of: {', '.join(MODEL_NAMES)}."


def check_model_name(model: str) -> None:
    """Check a model name given on the command line.

    Raises:
        UsageError: If `model` is not one of `MODEL_NAMES`.
    """
    if model not in MODEL_NAMES:
        raise UsageError(unknown_model_message(model))


def voter_data(seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Draw the voter's dataset: 9 random bits per row, labelled by majority vote.

    Args:
        seed: Seed of the legacy generator. Defaults to `42`, the exercise's seed.

    Returns:
        `(X, Y)`: `X` of shape (1000, 9) with entries 0 or 1, `Y` of shape (1000,).
    """
    rng = np.random.RandomState(seed)
    return _draw_voter(rng)


def matcher_data(seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the matcher's dataset: pairs of 5-sample rows and whether their means are equal.

    The voter's draws are replayed first because the exercise makes them first.

    Args:
        seed: Seed of the legacy generator. Defaults to `42`, the exercise's seed.

    Returns:
        `(S1, S2, labels)`: two arrays of shape (10000, 5) and labels of shape (10000,).
    """
    rng = np.random.RandomState(seed)
    _draw_voter(rng)

    # One scalar `choice` call per row, as the exercise does; a vectorised call draws other values.
    m1 = np.array([rng.choice([-1, 1]) for _ in range(MATCHER_ROWS)])
    m2 = np.array([rng.choice([-1, 1]) for _ in range(MATCHER_ROWS)])
    s1 = np.stack([rng.normal(m, 1, size=MATCHER_SAMPLES) for m in m1])
    s2 = np.stack([rng.normal(m, 1, size=MATCHER_SAMPLES) for m in m2])
    labels = np.where(m1 == m2, 1, 0)
    return s1, s2, labels


def _draw_voter(rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    x = rng.randint(0, 2, size=(VOTER_ROWS, VOTER_BITS))
    y = np.where(np.mean(x, axis=1) > 0.5, 1, 0)
    return x, y


def split_index(rows: int) -> int:
    """Return the first validation row of Keras's `validation_split=0.2` for `rows` rows."""
    return int(rows * (1 - VALIDATION_FRACTION))


def split(arrays: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Split arrays of equal length into (training, validation) parts the way Keras does.

    Returns:
        Two tuples of the same length as `arrays`: the first 80% of each array's rows, then the
        last 20%.
    """
    at = split_index(len(arrays[0]))
    return tuple(a[:at] for a in arrays), tuple(a[at:] for a in arrays)


def model_dataset(
    model: str, seed: int = 42
) -> tuple[tuple[np.ndarray, ...], np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
    """Return one model's `(x_train, y_train, x_val, y_val)` as float32, inputs as a tuple.

    Args:
        model: `"voter"` or `"matcher"`.
        seed: Data seed. Defaults to `42`.

    Returns:
        The inputs as a tuple of arrays (one for the voter, two for the matcher) and the labels, for
        the training and the validation split.
    """
    if model == "voter":
        x, y = voter_data(seed)
        inputs = (x,)
    elif model == "matcher":
        s1, s2, y = matcher_data(seed)
        inputs = (s1, s2)
    else:
        raise ValueError(unknown_model_message(model))

    arrays = tuple(a.astype("float32") for a in (*inputs, y))
    train, val = split(arrays)
    return train[:-1], train[-1], val[:-1], val[-1]
