"""Tests of kvsf_tune.models: the plain architectures, their compile settings and initial weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kvsf_tune import data, models, replicas


@pytest.mark.parametrize(
    ("build", "count"),
    [
        (lambda: models.voter("sequential"), 10),
        (lambda: models.voter("functional"), 10),
        (lambda: models.matcher(), 15),
    ],
    ids=["voter-sequential", "voter-functional", "matcher"],
)
def test_models_parameter_count(build, count):
    assert build().count_params() == count


def test_models_parameter_counts_constant():
    assert models.PARAMETER_COUNTS == {"voter": 10, "matcher": 15}


def test_matcher_shared_layer_listed_once():
    model = models.matcher()
    names = [layer.name for layer in model.layers]
    assert names.count("shared") == 1


def test_matcher_has_three_dense_layers():
    model = models.matcher()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len({id(layer) for layer in dense}) == 3


def test_matcher_shared_layer_called_twice():
    shared = models.matcher().get_layer("shared")
    assert len(shared._inbound_nodes) == 2


def test_matcher_shared_layer_is_one_tanh_unit():
    shared = models.matcher().get_layer("shared")
    assert shared.units == 1
    assert shared.activation is keras.activations.tanh


def test_matcher_shared_layer_takes_both_inputs():
    model = models.matcher()
    nodes = model.get_layer("shared")._inbound_nodes
    called_on = [node.input_tensors[0].name for node in nodes]
    assert called_on == [tensor.name for tensor in model.inputs]


def test_voter_compile_settings():
    model = models.voter()
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert model.loss == "mean_squared_error"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.001)


def test_matcher_compile_settings():
    model = models.matcher()
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.loss == "binary_crossentropy"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_models_compile_false_leaves_uncompiled():
    assert not models.matcher(compile=False).compiled


def test_voter_unknown_api():
    with pytest.raises(ValueError, match="Unknown api 'subclass'"):
        models.voter("subclass")


def test_build_unknown_model():
    with pytest.raises(ValueError, match="Unknown model 'cat'"):
        models.build("cat")


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_initial_weights_shapes_match_model(name):
    weights = models.initial_weights(name, seed=1)
    plain = models.build(name, compile=False)
    assert [w.shape for w in weights] == [w.shape for w in plain.get_weights()]


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_initial_weights_are_float32(name):
    assert all(w.dtype == np.float32 for w in models.initial_weights(name, seed=1))


@pytest.mark.parametrize("name", ["voter", "matcher"])
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_initial_weights_within_glorot_bounds(name, seed):
    kernels = models.initial_weights(name, seed)[0::2]
    for kernel in kernels:
        fan_in, fan_out = kernel.shape
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.abs(kernel).max() <= limit


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_initial_weights_biases_zero(name):
    biases = models.initial_weights(name, seed=5)[1::2]
    assert all(not bias.any() for bias in biases)


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_initial_weights_kernels_nonzero(name):
    kernels = models.initial_weights(name, seed=5)[0::2]
    assert all(np.abs(kernel).min() > 0 for kernel in kernels)


def test_initial_weights_spread_over_range():
    # 9,000 draws (1,000 seeds of the voter's 9 x 1 kernel) should come near both Glorot limits.
    limit = np.sqrt(6.0 / 10)
    draws = np.concatenate([models.initial_weights("voter", seed)[0].ravel() for seed in range(1000)])
    assert draws.max() > 0.99 * limit
    assert draws.min() < -0.99 * limit


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_initial_weights_same_seed_identical(name):
    first = models.initial_weights(name, seed=9)
    second = models.initial_weights(name, seed=9)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_initial_weights_other_seed_differs(name):
    first = models.initial_weights(name, seed=9)[0]
    second = models.initial_weights(name, seed=10)[0]
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", ["voter", "matcher"])
def test_build_with_seed_uses_initial_weights(name):
    plain = models.build(name, seed=4, compile=False)
    expected = models.initial_weights(name, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), expected))


def _train_voter(api: str) -> keras.Model:
    x_train, y_train, _, _ = data.model_dataset("voter")
    model = models.voter(api, seed=21)
    model.fit(replicas.batches(x_train, y_train, batch_size=32, seed=3), epochs=3, shuffle=False, verbose=0)
    return model


@pytest.fixture(scope="module")
def trained_voters() -> dict[str, keras.Model]:
    return {api: _train_voter(api) for api in models.APIS}


def test_voter_apis_train_to_same_weights(trained_voters):
    sequential = trained_voters["sequential"].get_weights()
    functional = trained_voters["functional"].get_weights()
    for a, b in zip(sequential, functional):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)


def test_voter_apis_give_same_predictions(trained_voters):
    _, _, x_val, _ = data.model_dataset("voter")
    sequential = trained_voters["sequential"].predict(x_val[0], verbose=0)
    functional = trained_voters["functional"].predict(x_val[0], verbose=0)
    np.testing.assert_allclose(sequential, functional, rtol=0, atol=1e-7)


def test_voter_training_moves_weights(trained_voters):
    kernel = trained_voters["sequential"].get_weights()[0]
    assert not np.array_equal(kernel, models.initial_weights("voter", seed=21)[0])
