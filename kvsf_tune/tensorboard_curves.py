"""The Keras callback that writes a trial's per-epoch curves for TensorBoard.

This module imports Keras and TensorFlow at the top, so `kvsf_tune.tensorboard.epoch_curves`
imports it lazily.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kvsf_tune.reliability import choose_restarts

# Scalar tags with one point per epoch. The step is the number of epochs completed (1 to `epochs`).
LOSS_MEAN = "epoch/loss_mean"
VAL_ACCURACY_MEAN = "epoch/val_accuracy_mean"
VAL_ACCURACY_MIN = "epoch/val_accuracy_min"
VAL_ACCURACY_MAX = "epoch/val_accuracy_max"
PASS_FRACTION = "epoch/pass_fraction"
TAGS = (LOSS_MEAN, VAL_ACCURACY_MEAN, VAL_ACCURACY_MIN, VAL_ACCURACY_MAX, PASS_FRACTION)


def epoch_scalars(replicas: dict[str, np.ndarray], *, restarts: int, target: float) -> dict[str, float]:
    """Aggregate one epoch's per-replica arrays over the trial's runs.

    Each run is represented by its restart with the lowest training loss of that epoch. The same
    rule picks a run's restart at the end of training, and validation accuracy never takes part.

    Args:
        replicas: The epoch's arrays of shape (K,): `loss` and `val_accuracy`.
        restarts: Restarts per run; K must be a multiple of it.
        target: Target accuracy of a run.

    Returns:
        The value of each tag in `TAGS`.
    """
    chosen = choose_restarts(replicas["loss"], restarts)
    loss = np.asarray(replicas["loss"], dtype="float64")[chosen]
    accuracy = np.asarray(replicas["val_accuracy"], dtype="float64")[chosen]
    return {
        LOSS_MEAN: float(loss.mean()),
        VAL_ACCURACY_MEAN: float(accuracy.mean()),
        VAL_ACCURACY_MIN: float(accuracy.min()),
        VAL_ACCURACY_MAX: float(accuracy.max()),
        PASS_FRACTION: float(np.mean(accuracy >= target)),
    }


class EpochCurves(keras.callbacks.Callback):
    """Keras callback that writes the curves of `epoch_scalars` into a trial's folder after every epoch.

    The bank's `ReplicaRecorder` must run first, because it puts the epoch's per-replica arrays
    into `logs["replicas"]`, and `kvsf_tune.replicas.train_bank` arranges that. Every epoch is
    flushed to disk, so TensorBoard shows a running trial's curves as they grow.

    Args:
        folder: The trial's or confirmation's folder.
        restarts: Restarts per run.
        target: Target accuracy of a run.
    """

    def __init__(self, folder: Path, *, restarts: int, target: float):
        super().__init__()
        self.folder = Path(folder)
        self.restarts = restarts
        self.target = target
        self.writer = None

    def on_train_begin(self, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = tf.summary.create_file_writer(str(self.folder))

    def on_epoch_end(self, epoch, logs=None):
        if not logs or "replicas" not in logs:
            raise ValueError(
                "Missing per-replica arrays in logs['replicas']. "
                "Train the bank with kvsf_tune.replicas.train_bank(..., callbacks=[...])."
            )
        scalars = epoch_scalars(logs["replicas"], restarts=self.restarts, target=self.target)
        with self.writer.as_default():
            for tag, value in scalars.items():
                tf.summary.scalar(tag, value, step=epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
