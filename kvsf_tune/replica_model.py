"""Keras classes behind the replica bank: the batched Dense layer, the bank model and its recorder.

This module imports Keras and TensorFlow at the top; `kvsf_tune.replicas` imports it lazily.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kvsf_tune import models


class ReplicaDense(keras.layers.Layer):
    """A Dense layer with a leading replica axis: K kernels (K, fan_in, fan_out), K biases.

    `call` returns pre-activation values of shape (K, batch, fan_out). An input of shape
    (batch, fan_in) is shared by every replica, one of shape (K, batch, fan_in) is per replica.
    """

    def __init__(self, replicas: int, fan_in: int, fan_out: int, **kwargs):
        super().__init__(**kwargs)
        self.replicas = replicas
        self.fan_in = fan_in
        self.fan_out = fan_out
        self.kernel = self.add_weight(shape=(replicas, fan_in, fan_out), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(replicas, fan_out), initializer="zeros", name="bias")
        # The weights' shapes do not depend on the input, so the layer is complete here.
        self.built = True

    def call(self, inputs):
        if len(inputs.shape) == 2:
            outputs = tf.einsum("bi,kio->kbo", inputs, self.kernel)
        else:
            outputs = tf.einsum("kbi,kio->kbo", inputs, self.kernel)
        return outputs + self.bias[:, None, :]


class ReplicaBank(keras.Model):
    """K independent copies of the voter or the matcher, trained together.

    `call` returns probabilities of shape (batch, K). Training uses a custom `train_step` that sums
    the replicas' mean losses and keeps each replica's running epoch loss.
    """

    def __init__(self, architecture: str, seeds: np.ndarray, **kwargs):
        super().__init__(name=f"{architecture}_bank", **kwargs)
        self.architecture = architecture
        self.seeds = np.asarray(seeds, dtype="int64")
        replicas = len(self.seeds)
        self.dense_layers = [
            ReplicaDense(replicas, fan_in, fan_out, name=f"replica_dense_{i}")
            for i, (fan_in, fan_out) in enumerate(models.KERNEL_SHAPES[architecture])
        ]
        self.epoch_loss_sum = self.add_weight(shape=(replicas,), initializer="zeros", trainable=False, name="epoch_loss_sum")
        self.epoch_rows = self.add_weight(shape=(), initializer="zeros", trainable=False, name="epoch_rows")
        self._set_initial_weights()
        self.built = True

    @property
    def replicas(self) -> int:
        return len(self.seeds)

    def _set_initial_weights(self) -> None:
        per_replica = [models.initial_weights(self.architecture, int(seed)) for seed in self.seeds]
        for i, layer in enumerate(self.dense_layers):
            layer.kernel.assign(np.stack([weights[2 * i] for weights in per_replica]))
            layer.bias.assign(np.stack([weights[2 * i + 1] for weights in per_replica]))

    def logits(self, inputs):
        """Return pre-sigmoid outputs of every replica, shape (K, batch)."""
        if self.architecture == "voter":
            bits = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
            return self.dense_layers[0](bits)[..., 0]

        shared, hidden, match = self.dense_layers
        s1, s2 = inputs
        merged = tf.concat([tf.tanh(shared(s1)), tf.tanh(shared(s2))], axis=-1)
        return match(tf.tanh(hidden(merged)))[..., 0]

    def call(self, inputs):
        return tf.transpose(tf.sigmoid(self.logits(inputs)))

    def replica_losses(self, labels, logits):
        """Return each replica's mean loss over the batch, shape (K,); `labels` has shape (batch, 1)."""
        targets = tf.broadcast_to(tf.transpose(tf.cast(labels, logits.dtype)), tf.shape(logits))
        if self.architecture == "voter":
            per_row = tf.square(targets - tf.sigmoid(logits))
        else:
            # Keras computes binary cross-entropy of a sigmoid output from its logits, too.
            per_row = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
        return tf.reduce_mean(per_row, axis=1)

    def train_step(self, data):
        inputs, labels = data
        with tf.GradientTape() as tape:
            losses = self.replica_losses(labels, self.logits(inputs))
            total = tf.reduce_sum(losses)
        gradients = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))

        rows = tf.cast(tf.shape(labels)[0], losses.dtype)
        self.epoch_loss_sum.assign_add(losses * rows)
        self.epoch_rows.assign_add(rows)
        return {"loss": total / self.replicas}

    def reset_epoch_loss(self) -> None:
        self.epoch_loss_sum.assign(tf.zeros_like(self.epoch_loss_sum))
        self.epoch_rows.assign(0.0)

    def epoch_loss(self) -> np.ndarray:
        """Return each replica's mean training loss over the epoch so far, as Keras's `loss` log."""
        return np.asarray(self.epoch_loss_sum.numpy() / max(float(self.epoch_rows.numpy()), 1.0))

    def measure(self, inputs, labels) -> tuple[np.ndarray, np.ndarray]:
        """Return each replica's loss and accuracy on a whole split, two arrays of shape (K,)."""
        loss, accuracy = self._measure(tuple(tf.constant(x) for x in inputs), tf.constant(labels.reshape(-1, 1)))
        return loss.numpy().astype("float64"), accuracy.numpy().astype("float64")

    # Eager on purpose: each trial builds a new bank, and a tf.function per bank retraces every
    # time, which TensorFlow reports as excessive retracing. A few eager ops per split are cheap.
    def _measure(self, inputs, labels):
        logits = self.logits(inputs)
        losses = self.replica_losses(labels, logits)
        # Keras's binary accuracy thresholds the probability, not the logit.
        predicted = tf.cast(tf.sigmoid(logits) > 0.5, labels.dtype)
        correct = tf.cast(tf.equal(predicted, tf.transpose(labels)), tf.float32)
        return losses, tf.reduce_mean(correct, axis=1)

    def replica_weights(self, replica: int) -> list[np.ndarray]:
        """Return one replica's weights in the plain model's `get_weights()` order."""
        weights = []
        for layer in self.dense_layers:
            weights.append(layer.kernel.numpy()[replica])
            weights.append(layer.bias.numpy()[replica])
        return weights

    def stacked_weights(self) -> dict[str, np.ndarray]:
        """Return every replica's weights as arrays with a leading replica axis, keyed by layer."""
        stacked = {}
        for i, layer in enumerate(self.dense_layers):
            stacked[f"kernel_{i}"] = layer.kernel.numpy()
            stacked[f"bias_{i}"] = layer.bias.numpy()
        return stacked

    def finite_replicas(self) -> np.ndarray:
        """Return True for each replica whose weights are all finite, shape (K,)."""
        finite = np.ones(self.replicas, dtype=bool)
        for array in self.stacked_weights().values():
            finite &= np.isfinite(array.reshape(self.replicas, -1)).all(axis=1)
        return finite


class ReplicaRecorder(keras.callbacks.Callback):
    """Records each replica's epoch loss, validation loss and validation accuracy.

    It runs first among the callbacks, so later callbacks find the epoch's per-replica arrays in
    `logs["replicas"]` as a dict with keys `loss`, `val_loss` and `val_accuracy`.
    """

    def __init__(self, validation):
        super().__init__()
        self.validation = validation
        self.rows: list[dict[str, np.ndarray]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_epoch_loss()

    def on_epoch_end(self, epoch, logs=None):
        val_loss, val_accuracy = self.model.measure(*self.validation)
        row = {"loss": self.model.epoch_loss(), "val_loss": val_loss, "val_accuracy": val_accuracy}
        self.rows.append(row)
        if logs is not None:
            logs["replicas"] = row

    def history(self):
        from kvsf_tune.replicas import BankHistory

        return BankHistory(**{key: np.stack([row[key] for row in self.rows]) for key in ("loss", "val_loss", "val_accuracy")})
