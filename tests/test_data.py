"""Tests of kvsf_tune.data: the exercise's arrays for seed 42 and Keras's validation split."""

from __future__ import annotations

import numpy as np
import pytest

from kvsf_tune import data
from kvsf_tune.errors import UsageError


def _exercise_recipe() -> dict[str, np.ndarray]:
    """Draw the exercise's arrays with its own statements, on NumPy's global generator."""
    np.random.seed(42)
    X = np.random.randint(0, 2, size=(1000, 9))
    Y = np.where(np.mean(X, axis=1) > 0.5, 1, 0)
    M1 = np.array([np.random.choice([-1, 1]) for _ in range(10000)])
    M2 = np.array([np.random.choice([-1, 1]) for _ in range(10000)])
    S1 = np.stack([np.random.normal(m, 1, size=5) for m in M1])
    S2 = np.stack([np.random.normal(m, 1, size=5) for m in M2])
    labels = np.where(M1 == M2, 1, 0)
    return {"X": X, "Y": Y, "S1": S1, "S2": S2, "labels": labels}


@pytest.fixture(scope="module")
def recipe() -> dict[str, np.ndarray]:
    saved = np.random.get_state()
    try:
        return _exercise_recipe()
    finally:
        np.random.set_state(saved)


@pytest.fixture(scope="module")
def drawn() -> dict[str, np.ndarray]:
    X, Y = data.voter_data(42)
    S1, S2, labels = data.matcher_data(42)
    return {"X": X, "Y": Y, "S1": S1, "S2": S2, "labels": labels}


@pytest.mark.parametrize(
    ("name", "shape"),
    [("X", (1000, 9)), ("Y", (1000,)), ("S1", (10000, 5)), ("S2", (10000, 5)), ("labels", (10000,))],
)
def test_data_shapes(drawn, name, shape):
    assert drawn[name].shape == shape


@pytest.mark.parametrize(("name", "total"), [("X", 4482), ("Y", 481), ("labels", 4935)])
def test_data_sums(drawn, name, total):
    assert int(drawn[name].sum()) == total


@pytest.mark.parametrize("name", ["X", "Y", "S1", "S2", "labels"])
def test_data_matches_exercise_recipe(drawn, recipe, name):
    np.testing.assert_array_equal(drawn[name], recipe[name])


@pytest.mark.parametrize("name", ["X", "Y", "S1", "S2", "labels"])
def test_data_dtype_matches_recipe(drawn, recipe, name):
    assert drawn[name].dtype == recipe[name].dtype


def test_data_voter_bits_are_binary(drawn):
    assert set(np.unique(drawn["X"])) == {0, 1}


@pytest.mark.parametrize("draw", [data.voter_data, data.matcher_data])
def test_data_leaves_global_generator_alone(draw):
    saved = np.random.get_state()
    try:
        np.random.seed(7)
        expected = np.random.random_sample(4)
        np.random.seed(7)
        draw(42)
        after = np.random.random_sample(4)
    finally:
        np.random.set_state(saved)
    np.testing.assert_array_equal(after, expected)


def test_data_other_seed_differs():
    X_42, _ = data.voter_data(42)
    X_43, _ = data.voter_data(43)
    assert not np.array_equal(X_42, X_43)


@pytest.mark.parametrize(("rows", "index"), [(1000, 800), (10000, 8000), (5, 4)])
def test_split_index_keeps_last_fifth(rows, index):
    assert data.split_index(rows) == index


@pytest.mark.parametrize(("model", "train_rows", "val_rows"), [("voter", 800, 200), ("matcher", 8000, 2000)])
def test_model_dataset_row_counts(model, train_rows, val_rows):
    x_train, y_train, x_val, y_val = data.model_dataset(model)
    assert len(y_train) == train_rows
    assert len(y_val) == val_rows
    assert all(len(x) == train_rows for x in x_train)
    assert all(len(x) == val_rows for x in x_val)


def test_model_dataset_voter_split_is_unshuffled(drawn):
    x_train, y_train, x_val, y_val = data.model_dataset("voter")
    np.testing.assert_array_equal(x_train[0], drawn["X"][:800].astype("float32"))
    np.testing.assert_array_equal(x_val[0], drawn["X"][800:].astype("float32"))
    np.testing.assert_array_equal(y_val, drawn["Y"][800:].astype("float32"))


def test_model_dataset_matcher_split_is_unshuffled(drawn):
    x_train, y_train, x_val, y_val = data.model_dataset("matcher")
    np.testing.assert_array_equal(x_train[1], drawn["S2"][:8000].astype("float32"))
    np.testing.assert_array_equal(x_val[0], drawn["S1"][8000:].astype("float32"))
    np.testing.assert_array_equal(x_val[1], drawn["S2"][8000:].astype("float32"))
    np.testing.assert_array_equal(y_val, drawn["labels"][8000:].astype("float32"))


@pytest.mark.parametrize("model", ["voter", "matcher"])
def test_model_dataset_is_float32(model):
    x_train, y_train, x_val, y_val = data.model_dataset(model)
    assert all(array.dtype == np.float32 for array in (*x_train, y_train, *x_val, y_val))


def test_model_dataset_input_counts():
    assert len(data.model_dataset("voter")[0]) == 1
    assert len(data.model_dataset("matcher")[0]) == 2


def test_model_dataset_unknown_model():
    with pytest.raises(ValueError, match="Unknown model 'dog'"):
        data.model_dataset("dog")


def test_check_model_name_unknown():
    with pytest.raises(UsageError, match=r"^Unknown model 'dog': use one of: voter, matcher\.$"):
        data.check_model_name("dog")


def test_check_model_name_known():
    for model in data.MODEL_NAMES:
        data.check_model_name(model)
