"""The exercise's plain Keras architectures and their compile settings.

- voter: 9 inputs -> `Dense(1, sigmoid)`, as a `Sequential` model or with the Functional API;
  10 parameters.
- matcher: two `Input(shape=(5,))` that go through ONE shared `Dense(1, tanh)` layer, then
  `concatenate`, `Dense(2, tanh)` and `Dense(1, sigmoid)`; 15 parameters.
"""

from __future__ import annotations

import numpy as np

from kvsf_tune.data import MATCHER_SAMPLES, VOTER_BITS, unknown_model_message

APIS = ("sequential", "functional")

# Kernel shapes (fan-in, fan-out) of each Dense layer, in the order `model.get_weights()` lists them.
KERNEL_SHAPES: dict[str, tuple[tuple[int, int], ...]] = {
    "voter": ((VOTER_BITS, 1),),
    "matcher": ((MATCHER_SAMPLES, 1), (2, 2), (2, 1)),
}

PARAMETER_COUNTS = {"voter": 10, "matcher": 15}


def initial_weights(model: str, seed: int) -> list[np.ndarray]:
    """Draw a model's initial weights the way Keras's `Dense` defaults do, from one integer seed.

    Each kernel is Glorot uniform over its own fan-in and fan-out and each bias is zero. NumPy draws
    them, so the same seed gives the same weights on every platform and the replica bank and a plain
    model can start from identical values.

    Args:
        model: `"voter"` or `"matcher"`.
        seed: Non-negative integer seed of this model's initialisation.

    Returns:
        `[kernel, bias, ...]` as float32 arrays, in `model.get_weights()` order.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in KERNEL_SHAPES[model]:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype("float32"))
        weights.append(np.zeros(fan_out, dtype="float32"))
    return weights


def voter(api: str = "sequential", *, seed: int | None = None, compile: bool = True):
    """Build the voter: 9 inputs -> `Dense(1, activation="sigmoid")`.

    Args:
        api: `"sequential"` or `"functional"`. Defaults to `"sequential"`.
        seed: If given, start from `initial_weights("voter", seed)`. Defaults to `None`, which
            keeps Keras's own random initialisation.
        compile: Compile with the exercise's settings: RMSprop, mean squared error, accuracy.
            Defaults to `True`.

    Returns:
        A `keras.Model` with 10 parameters.
    """
    import keras

    if api == "sequential":
        model = keras.Sequential(
            [keras.Input(shape=(VOTER_BITS,)), keras.layers.Dense(1, activation="sigmoid", name="vote")],
            name="voter",
        )
    elif api == "functional":
        bits = keras.Input(shape=(VOTER_BITS,), name="bits")
        vote = keras.layers.Dense(1, activation="sigmoid", name="vote")(bits)
        model = keras.Model(inputs=bits, outputs=vote, name="voter")
    else:
        raise ValueError(f"Unknown api {api!r}; expected one of {', '.join(APIS)}.")

    if compile:
        model.compile(optimizer="rmsprop", loss="mean_squared_error", metrics=["accuracy"])
    return _start_from(model, "voter", seed)


def matcher(*, seed: int | None = None, compile: bool = True):
    """Build the matcher: a shared `Dense(1, tanh)` over two 5-sample inputs, then 2 and 1 units.

    Args:
        seed: If given, start from `initial_weights("matcher", seed)`. Defaults to `None`.
        compile: Compile with the exercise's settings: SGD, binary cross-entropy, accuracy.
            Defaults to `True`.

    Returns:
        A functional `keras.Model` with inputs `[s1, s2]` and 15 parameters.
    """
    import keras

    s1 = keras.Input(shape=(MATCHER_SAMPLES,), name="s1")
    s2 = keras.Input(shape=(MATCHER_SAMPLES,), name="s2")
    shared = keras.layers.Dense(1, activation="tanh", name="shared")
    merged = keras.layers.concatenate([shared(s1), shared(s2)], name="merged")
    hidden = keras.layers.Dense(2, activation="tanh", name="hidden")(merged)
    match = keras.layers.Dense(1, activation="sigmoid", name="match")(hidden)
    model = keras.Model(inputs=[s1, s2], outputs=match, name="matcher")

    if compile:
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    return _start_from(model, "matcher", seed)


def build(model: str, *, api: str = "sequential", seed: int | None = None, compile: bool = True):
    """Build one of the plain models by name; `api` applies to the voter only."""
    if model == "voter":
        return voter(api, seed=seed, compile=compile)
    if model == "matcher":
        return matcher(seed=seed, compile=compile)
    raise ValueError(unknown_model_message(model))


def _start_from(model, name: str, seed: int | None):
    if seed is not None:
        model.set_weights(initial_weights(name, seed))
    return model
