"""Tests of kvsf_tune.replicas: every replica of a bank trains as the plain model would alone.

Each bank trains on the first rows of the exercise's training split for a few epochs, which keeps
the file fast and still takes hundreds of optimizer steps.
"""

from __future__ import annotations

import numpy as np
import pytest

from kvsf_tune import data, models, reliability, replicas

SEEDS = [101, 202, 303, 404, 505, 606, 707, 808]
SHUFFLE_SEED = 11
TRAIN_ROWS = 600
# The matcher uses the exercise's batch size; the voter's smaller batch gives it more steps.
SETTINGS = {"voter": {"batch_size": 8, "epochs": 3}, "matcher": {"batch_size": 4, "epochs": 2}}
# The exercise's loss of each model, written out so a wrong mapping in the library shows up here.
EXERCISE_LOSSES = {"voter": "mean_squared_error", "matcher": "binary_crossentropy"}
OPTIMIZERS = {
    "sgd": ("sgd", 0.01, 0.0),
    "sgd_momentum": ("sgd", 0.01, 0.9),
    "rmsprop": ("rmsprop", 0.01, 0.0),
    "adam": ("adam", 0.01, 0.0),
}
CHECKED_REPLICA = 3


def _splits(model: str):
    x_train, y_train, x_val, y_val = data.model_dataset(model)
    train = (tuple(x[:TRAIN_ROWS] for x in x_train), y_train[:TRAIN_ROWS])
    return train, (x_val, y_val)


def _train_bank(model: str, seeds, optimizer=("sgd", 0.01, 0.0), prepare=None):
    """Build, compile and train a bank; `prepare(bank)` may change its weights before training."""
    train, validation = _splits(model)
    bank = replicas.build_bank(model, seeds)
    if prepare is not None:
        prepare(bank)
    steps = replicas.steps_per_epoch(TRAIN_ROWS, SETTINGS[model]["batch_size"])
    replicas.compile_bank(bank, replicas.make_optimizer(*optimizer), steps_per_execution=steps)
    result = replicas.train_bank(bank, train, validation, shuffle_seed=SHUFFLE_SEED, **SETTINGS[model])
    return bank, result


def _train_plain(model: str, seed: int, optimizer):
    """Train the plain model alone from `seed` on the same batches as the bank."""
    (x_train, y_train), _ = _splits(model)
    plain = models.build(model, seed=seed, compile=False)
    plain.compile(optimizer=replicas.make_optimizer(*optimizer), loss=EXERCISE_LOSSES[model], metrics=["accuracy"])
    settings = SETTINGS[model]
    dataset = replicas.batches(x_train, y_train, batch_size=settings["batch_size"], seed=SHUFFLE_SEED)
    history = plain.fit(dataset, epochs=settings["epochs"], shuffle=False, verbose=0)
    return plain, history.history["loss"]


def _inputs(x: tuple[np.ndarray, ...]):
    return x[0] if len(x) == 1 else list(x)


def _max_difference(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(first, second, strict=True))


CASES = [(model, name) for model in ("voter", "matcher") for name in OPTIMIZERS]


@pytest.fixture(scope="module", params=CASES, ids=[f"{model}-{name}" for model, name in CASES])
def trained_pair(request):
    model, name = request.param
    bank, result = _train_bank(model, SEEDS, OPTIMIZERS[name])
    plain, plain_loss = _train_plain(model, SEEDS[CHECKED_REPLICA], OPTIMIZERS[name])
    return {"model": model, "bank": bank, "result": result, "plain": plain, "plain_loss": plain_loss}


def test_bank_matches_single_model(trained_pair):
    bank_weights = trained_pair["bank"].replica_weights(CHECKED_REPLICA)
    assert _max_difference(bank_weights, trained_pair["plain"].get_weights()) <= 1e-5


def test_bank_training_moves_weights(trained_pair):
    start = models.initial_weights(trained_pair["model"], SEEDS[CHECKED_REPLICA])
    assert _max_difference(trained_pair["bank"].replica_weights(CHECKED_REPLICA), start) > 1e-3


def test_bank_val_accuracy_matches_evaluate(trained_pair):
    _, (x_val, y_val) = _splits(trained_pair["model"])
    _, accuracy = trained_pair["plain"].evaluate(_inputs(x_val), y_val, batch_size=len(y_val), verbose=0)
    assert abs(trained_pair["result"].val_accuracy[CHECKED_REPLICA] - accuracy) <= 1e-6


def test_bank_val_loss_matches_evaluate(trained_pair):
    _, (x_val, y_val) = _splits(trained_pair["model"])
    loss, _ = trained_pair["plain"].evaluate(_inputs(x_val), y_val, batch_size=len(y_val), verbose=0)
    assert trained_pair["result"].val_loss[CHECKED_REPLICA] == pytest.approx(loss, rel=1e-4, abs=1e-6)


def test_bank_train_loss_matches_evaluate(trained_pair):
    (x_train, y_train), _ = _splits(trained_pair["model"])
    loss, _ = trained_pair["plain"].evaluate(_inputs(x_train), y_train, batch_size=len(y_train), verbose=0)
    assert trained_pair["result"].train_loss[CHECKED_REPLICA] == pytest.approx(loss, rel=1e-4, abs=1e-6)


def test_bank_epoch_loss_matches_fit_history(trained_pair):
    bank_loss = trained_pair["result"].history.loss[:, CHECKED_REPLICA]
    np.testing.assert_allclose(bank_loss, trained_pair["plain_loss"], rtol=1e-4, atol=1e-6)


def test_bank_history_shape(trained_pair):
    history = trained_pair["result"].history
    expected = (SETTINGS[trained_pair["model"]]["epochs"], len(SEEDS))
    assert history.loss.shape == expected
    assert history.val_accuracy.shape == expected


@pytest.fixture(scope="module")
def voter_bank():
    return _train_bank("voter", SEEDS, OPTIMIZERS["rmsprop"])


def test_extract_voter_apis_agree(voter_bank):
    bank, _ = voter_bank
    _, (x_val, _) = _splits("voter")
    sequential = replicas.extract(bank, CHECKED_REPLICA, api="sequential")
    functional = replicas.extract(bank, CHECKED_REPLICA, api="functional")
    assert _max_difference(sequential.get_weights(), functional.get_weights()) == 0.0
    np.testing.assert_allclose(
        sequential.predict(x_val[0], verbose=0), functional.predict(x_val[0], verbose=0), rtol=0, atol=1e-7
    )


@pytest.mark.parametrize("api", models.APIS)
def test_extract_voter_predicts_like_bank(voter_bank, api):
    bank, _ = voter_bank
    _, (x_val, _) = _splits("voter")
    plain = replicas.extract(bank, CHECKED_REPLICA, api=api)
    from_bank = bank.predict(x_val[0], batch_size=len(x_val[0]), verbose=0)[:, CHECKED_REPLICA]
    np.testing.assert_allclose(plain.predict(x_val[0], verbose=0)[:, 0], from_bank, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def matcher_bank():
    return _train_bank("matcher", SEEDS, OPTIMIZERS["adam"])


def test_extract_matcher_architecture(matcher_bank):
    bank, _ = matcher_bank
    plain = replicas.extract(bank, CHECKED_REPLICA)
    assert [layer.name for layer in plain.layers] == [layer.name for layer in models.matcher().layers]
    assert plain.count_params() == 15


def test_extract_matcher_weights(matcher_bank):
    bank, _ = matcher_bank
    plain = replicas.extract(bank, CHECKED_REPLICA)
    assert _max_difference(plain.get_weights(), bank.replica_weights(CHECKED_REPLICA)) == 0.0


def test_extract_matcher_is_compiled(matcher_bank):
    bank, _ = matcher_bank
    assert replicas.extract(bank, 0).compiled


def test_extract_matcher_predicts_like_bank(matcher_bank):
    bank, _ = matcher_bank
    _, (x_val, _) = _splits("matcher")
    plain = replicas.extract(bank, CHECKED_REPLICA)
    from_bank = bank.predict(x_val, batch_size=len(x_val[0]), verbose=0)[:, CHECKED_REPLICA]
    np.testing.assert_allclose(plain.predict(list(x_val), verbose=0)[:, 0], from_bank, rtol=0, atol=1e-6)


def test_bank_replicas_independent(matcher_bank):
    bank, _ = matcher_bank
    other_bank, _ = _train_bank("matcher", [999, *SEEDS[1:]], OPTIMIZERS["adam"])
    assert _max_difference(other_bank.replica_weights(0), bank.replica_weights(0)) > 1e-3
    for replica in range(1, len(SEEDS)):
        assert _max_difference(other_bank.replica_weights(replica), bank.replica_weights(replica)) <= 1e-7


def _poison_first_replica(bank) -> None:
    kernel = bank.dense_layers[0].kernel
    values = kernel.numpy()
    values[0] = np.nan
    kernel.assign(values)


@pytest.fixture(scope="module")
def poisoned_matcher_bank():
    return _train_bank("matcher", SEEDS, OPTIMIZERS["adam"], prepare=_poison_first_replica)


def test_bank_marks_nan_replica_diverged(poisoned_matcher_bank):
    _, result = poisoned_matcher_bank
    assert bool(result.diverged[0])


def test_bank_keeps_clean_replicas_finite(poisoned_matcher_bank):
    _, result = poisoned_matcher_bank
    assert not result.diverged[1:].any()


def test_bank_nan_replica_leaves_others_unchanged(poisoned_matcher_bank, matcher_bank):
    poisoned, _ = poisoned_matcher_bank
    clean, _ = matcher_bank
    for replica in range(1, len(SEEDS)):
        assert _max_difference(poisoned.replica_weights(replica), clean.replica_weights(replica)) <= 1e-7


def test_bank_nan_replica_leaves_other_accuracies(poisoned_matcher_bank, matcher_bank):
    _, poisoned = poisoned_matcher_bank
    _, clean = matcher_bank
    np.testing.assert_allclose(poisoned.val_accuracy[1:], clean.val_accuracy[1:], rtol=0, atol=1e-7)


def test_bank_clean_has_no_divergence(matcher_bank):
    _, result = matcher_bank
    assert not result.diverged.any()


@pytest.mark.parametrize("restarts", [2, 4])
def test_run_records_keep_lowest_train_loss(matcher_bank, restarts):
    _, result = matcher_bank
    records = reliability.run_records(
        seeds=result.seeds,
        train_loss=result.train_loss,
        val_accuracy=result.val_accuracy,
        diverged=result.diverged,
        restarts=restarts,
        target=0.95,
    )
    assert len(records) == len(SEEDS) // restarts
    for record in records:
        group = range(record.run * restarts, (record.run + 1) * restarts)
        assert record.replica in group
        assert all(result.train_loss[record.replica] <= result.train_loss[k] for k in group)
        assert record.seed == SEEDS[record.replica]
        assert record.val_accuracy == result.val_accuracy[record.replica]
        assert record.restart_seeds == tuple(SEEDS[k] for k in group)


def test_run_records_skip_diverged_restart(poisoned_matcher_bank):
    _, result = poisoned_matcher_bank
    records = reliability.run_records(
        seeds=result.seeds,
        train_loss=result.train_loss,
        val_accuracy=result.val_accuracy,
        diverged=result.diverged,
        restarts=4,
        target=0.95,
    )
    assert records[0].replica != 0
    assert records[0].diverged
    assert not records[1].diverged


def test_bank_result_seeds(matcher_bank):
    _, result = matcher_bank
    assert result.seeds.tolist() == SEEDS


def test_save_load_bank_round_trip(matcher_bank, tmp_path):
    bank, _ = matcher_bank
    path = tmp_path / "bank.weights.h5"
    replicas.save_bank(bank, path)
    loaded = replicas.load_bank("matcher", SEEDS, path)
    saved = bank.stacked_weights()
    restored = loaded.stacked_weights()
    assert saved.keys() == restored.keys()
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key])


def test_load_bank_differs_from_fresh_build(matcher_bank, tmp_path):
    bank, _ = matcher_bank
    path = tmp_path / "bank.weights.h5"
    replicas.save_bank(bank, path)
    loaded = replicas.load_bank("matcher", SEEDS, path)
    fresh = replicas.build_bank("matcher", SEEDS)
    assert _max_difference(loaded.replica_weights(0), fresh.replica_weights(0)) > 1e-3


def test_bank_initial_weights_follow_seeds():
    bank = replicas.build_bank("matcher", SEEDS)
    for replica, seed in enumerate(SEEDS):
        assert _max_difference(bank.replica_weights(replica), models.initial_weights("matcher", seed)) == 0.0


def test_batches_same_seed_same_order():
    (x_train, y_train), _ = _splits("voter")
    first = [labels.numpy() for _, labels in replicas.batches(x_train, y_train, batch_size=50, seed=4)]
    second = [labels.numpy() for _, labels in replicas.batches(x_train, y_train, batch_size=50, seed=4)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_batches_reshuffle_each_epoch():
    (x_train, y_train), _ = _splits("matcher")
    dataset = replicas.batches(x_train, y_train, batch_size=len(y_train), seed=4)
    first_epoch = next(iter(dataset))[1].numpy()
    second_epoch = next(iter(dataset))[1].numpy()
    assert not np.array_equal(first_epoch, second_epoch)


def test_steps_per_epoch_rounds_up():
    assert replicas.steps_per_epoch(10, 4) == 3


def test_make_optimizer_unknown():
    with pytest.raises(ValueError, match="Unknown optimizer 'lbfgs'"):
        replicas.make_optimizer("lbfgs", 0.1)
