"""The replica bank: K independent copies of one architecture trained by a single `fit`.

Every Dense layer of the plain model becomes a `ReplicaDense` whose kernel has a leading replica
axis, shape (K, fan_in, fan_out), and runs as one batched einsum. All copies see the same batches.
The total loss is the sum of the copies' mean losses, so the gradient of copy k's weights is the
gradient of copy k's own loss, and the element-wise optimizers (SGD, RMSprop, Adam) keep a separate
state per copy. A copy therefore trains exactly as the plain model would alone, up to float32
rounding of the batched kernels.

Replica k belongs to run `k // restarts` as its restart `k % restarts`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kvsf_tune import models

# The exercise's loss of each architecture; the bank computes it per replica.
LOSSES = {"voter": "mean_squared_error", "matcher": "binary_crossentropy"}
# One split of the data: `(inputs, labels)`, one array per model input.
Split = tuple[tuple[np.ndarray, ...], np.ndarray]


@dataclass(frozen=True)
class BankHistory:
    """Per-epoch curves of every replica, arrays of shape (epochs, replicas)."""

    loss: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray


@dataclass(frozen=True)
class BankResult:
    """The per-replica outcome of one training of a bank.

    Attributes:
        seeds: Initialisation seed of each replica, shape (K,).
        shuffle_seed: Seed of the batch order that every replica saw.
        history: Per-epoch curves.
        train_loss: Loss of the final weights on the whole training split, shape (K,).
        val_loss: Loss of the final weights on the validation split, shape (K,).
        val_accuracy: Accuracy of the final weights on the validation split, shape (K,).
        diverged: True where a replica's loss or weights became NaN or infinite, shape (K,).
        fit_seconds: Wall time of the training, its validation passes and the final measurements.
    """

    seeds: np.ndarray
    shuffle_seed: int
    history: BankHistory
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    diverged: np.ndarray
    fit_seconds: float


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.0):
    """Create a Keras optimizer by name: `"sgd"` (with optional momentum), `"rmsprop"` or `"adam"`."""
    import keras

    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    raise ValueError(f"Unknown optimizer {name!r}; expected sgd, rmsprop or adam.")


def batches(inputs: tuple[np.ndarray, ...], labels: np.ndarray, *, batch_size: int, seed: int):
    """Return a `tf.data.Dataset` of shuffled batches whose order depends only on `seed`.

    Each pass over the dataset (each epoch) draws a new order. The sequence of orders is the same
    for every dataset built with the same seed, so a bank and a plain model train on identical
    batches when each gets its own such dataset.
    """
    import tensorflow as tf

    features = inputs[0] if len(inputs) == 1 else tuple(inputs)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels.reshape(-1, 1)))
    dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def build_bank(model: str, seeds: Sequence[int]):
    """Build a `ReplicaBank` for `"voter"` or `"matcher"` with one replica per seed (uncompiled)."""
    from kvsf_tune.replica_model import ReplicaBank

    return ReplicaBank(model, np.asarray(seeds, dtype="int64"))


def compile_bank(bank, optimizer, *, steps_per_execution: int = 1, jit_compile: bool = True) -> None:
    """Compile a bank for training with the given optimizer instance."""
    bank.compile(optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=jit_compile)


def train_bank(
    bank,
    train: Split,
    validation: Split,
    *,
    batch_size: int,
    epochs: int,
    shuffle_seed: int,
    callbacks: Sequence = (),
) -> BankResult:
    """Train every replica of a compiled bank and measure each one.

    Args:
        bank: A compiled `ReplicaBank`.
        train: `(inputs, labels)` of the training split.
        validation: `(inputs, labels)` of the validation split; it is only measured, never used to
            choose anything.
        batch_size: Rows per batch.
        epochs: Passes over the training split.
        shuffle_seed: Seed of the batch order.
        callbacks: Keras callbacks; `on_epoch_end` receives the usual scalar logs, and the
            per-replica arrays of the epoch are in `logs["replicas"]`. Defaults to `()`.

    Returns:
        A `BankResult`.
    """
    from kvsf_tune.replica_model import ReplicaRecorder

    started = time.perf_counter()
    recorder = ReplicaRecorder(validation)
    dataset = batches(*train, batch_size=batch_size, seed=shuffle_seed)
    bank.fit(dataset, epochs=epochs, verbose=0, shuffle=False, callbacks=[recorder, *callbacks])
    return _measure_bank(bank, train, validation, recorder, shuffle_seed=shuffle_seed, started=started)


def _measure_bank(bank, train: Split, validation: Split, recorder, *, shuffle_seed: int, started: float) -> BankResult:
    """Measure a trained bank's final weights on both splits and mark the replicas that diverged."""
    train_loss, _ = bank.measure(*train)
    val_loss, val_accuracy = bank.measure(*validation)
    history = recorder.history()
    diverged = ~np.isfinite(train_loss) | ~bank.finite_replicas() | ~np.isfinite(history.loss).all(axis=0)
    return BankResult(
        seeds=bank.seeds.copy(),
        shuffle_seed=shuffle_seed,
        history=history,
        train_loss=train_loss,
        val_loss=val_loss,
        val_accuracy=val_accuracy,
        diverged=diverged,
        fit_seconds=time.perf_counter() - started,
    )


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Return the number of batches in one pass over `rows` rows."""
    return -(-rows // batch_size)


def extract(bank, replica: int, *, api: str = "sequential"):
    """Return the plain model of `kvsf_tune.models`, compiled, carrying one replica's weights.

    Args:
        bank: A `ReplicaBank`.
        replica: Index of the replica.
        api: `"sequential"` or `"functional"` for the voter. Defaults to `"sequential"`.
    """
    plain = models.build(bank.architecture, api=api)
    plain.set_weights(bank.replica_weights(replica))
    return plain


def save_bank(bank, path) -> None:
    """Save every replica's weights to a Keras `.weights.h5` file."""
    bank.save_weights(str(path))


def load_bank(model: str, seeds: Sequence[int], path):
    """Rebuild a bank with the given replica seeds and load its weights from a `.weights.h5` file."""
    bank = build_bank(model, seeds)
    bank.load_weights(str(path))
    return bank
