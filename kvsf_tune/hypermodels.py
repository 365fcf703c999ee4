"""KerasTuner hypermodels whose model is a replica bank of every run and restart of a setting.

`build(hp)` declares the search space on `hp` and builds the bank. `fit(hp, model, ...)` trains it
with the trial's batch size and epochs, which is KerasTuner's supported way to tune them, and
returns the trial's metrics, whose objective is `pass_rate_lower_bound`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import keras_tuner
import numpy as np

from kvsf_tune import data, reliability, replicas
from kvsf_tune.search_space import SearchSpace

OBJECTIVE = "pass_rate_lower_bound"

# Hyperband sets these on `hp`; `tuner/epochs` replaces the space's epochs.
HYPERBAND_EPOCHS = "tuner/epochs"


@dataclass(frozen=True)
class TrialOutcome:
    """A trained trial: its setting, per-run records, summary and the raw bank result."""

    setting: dict
    runs: tuple[reliability.RunRecord, ...]
    summary: reliability.TrialSummary
    bank_result: replicas.BankResult

    def metrics(self) -> dict[str, float]:
        """Return the numbers KerasTuner records for the trial."""
        return trial_metrics(self.summary)


def trial_metrics(summary: reliability.TrialSummary) -> dict[str, float]:
    """Return a trial's metrics for KerasTuner's oracle; the objective is `pass_rate_lower_bound`."""
    accuracy = summary.val_accuracy
    return {
        OBJECTIVE: summary.pass_rate_lower_bound,
        "pass_rate": summary.pass_rate,
        "val_accuracy_mean": _number(accuracy["mean"]),
        "val_accuracy_min": _number(accuracy["min"]),
        "fit_seconds": summary.fit_seconds,
        "cost": float(summary.cost),
    }


def _number(value: float | None) -> float:
    return 0.0 if value is None else float(value)


class ReliabilityHyperModel(keras_tuner.HyperModel):
    """Builds and trains the replica bank of a setting: `runs` runs of `restarts` restarts each.

    Args:
        model: `"voter"` or `"matcher"`.
        space: The search space declared on `hp`.
        runs: Independent runs per trial.
        target: Validation accuracy a run must reach to pass.
        seed: Search seed; with the setting it fixes every replica seed and the batch order.
            Defaults to `0`.
        data_seed: Seed of the exercise's dataset. Defaults to `42`.
    """

    def __init__(
        self,
        model: str,
        space: SearchSpace,
        *,
        runs: int,
        target: float,
        seed: int = 0,
        data_seed: int = 42,
    ):
        super().__init__(name=model, tunable=True)
        self.model = model
        self.space = space
        self.runs = runs
        self.target = target
        self.seed = seed
        self.data_seed = data_seed
        x_train, y_train, x_val, y_val = data.model_dataset(model, data_seed)
        self.train_split = (x_train, y_train)
        self.validation_split = (x_val, y_val)

    def setting(self, hp) -> dict:
        """Declare the space on `hp` and return the trial's resolved setting."""
        setting = self.space.declare(hp)
        if HYPERBAND_EPOCHS in hp.values:
            setting["epochs"] = int(hp.values[HYPERBAND_EPOCHS])
        return setting

    def build(self, hp):
        setting = self.setting(hp)
        seeds, _ = self.seeds_for(setting)
        return self.build_bank(setting, seeds)

    def build_bank(self, setting: dict, seeds: Sequence[int]):
        """Build and compile the bank of a setting with the given replica seeds."""
        bank = replicas.build_bank(self.model, seeds)
        optimizer = replicas.make_optimizer(
            setting["optimizer"], setting["learning_rate"], setting.get("momentum", 0.0)
        )
        replicas.compile_bank(bank, optimizer, steps_per_execution=self.steps_per_epoch(setting))
        return bank

    def steps_per_epoch(self, setting: dict) -> int:
        return replicas.steps_per_epoch(len(self.train_split[1]), int(setting["batch_size"]))

    def seeds_for(self, setting: dict, *, salt: str = "search", runs: int | None = None) -> tuple[list[int], int]:
        """Return the replica seeds and the batch-order seed of a setting.

        They depend only on the search seed, the setting and `salt`, so the same seed reproduces
        the same per-run results, and a different salt (the confirmation's) draws fresh seeds.
        """
        runs = self.runs if runs is None else runs
        digest = hashlib.sha256(json.dumps([self.seed, salt, _canonical(setting)]).encode()).digest()
        rng = np.random.default_rng(list(digest[:16]))
        replica_count = runs * int(setting["restarts"])
        seeds = rng.choice(2**31 - 1, size=replica_count, replace=False)
        return [int(seed) for seed in seeds], int(rng.integers(2**31 - 1))

    def fit(self, hp, model, *args, callbacks: Sequence = (), **kwargs) -> dict[str, float]:
        """Train the bank `model` built for `hp` and return the trial's metrics."""
        setting = self.setting(hp)
        _, shuffle_seed = self.seeds_for(setting)
        outcome = self.train(setting, model, shuffle_seed=shuffle_seed, hyperparameters=dict(hp.values), callbacks=callbacks)
        return outcome.metrics()

    def train(
        self,
        setting: dict,
        bank,
        *,
        shuffle_seed: int,
        trial_id: str = "",
        hyperparameters: dict | None = None,
        callbacks: Sequence = (),
    ) -> TrialOutcome:
        """Train a built bank and summarise its runs.

        Args:
            setting: The resolved setting (see `setting`).
            bank: A bank from `build_bank`.
            shuffle_seed: Seed of the batch order.
            trial_id: Id recorded in the summary. Defaults to `""`.
            hyperparameters: KerasTuner's active values, shown in the summary. Defaults to the
                setting.
            callbacks: Extra Keras callbacks for the bank's `fit`.
        """
        result = replicas.train_bank(
            bank,
            self.train_split,
            self.validation_split,
            batch_size=int(setting["batch_size"]),
            epochs=int(setting["epochs"]),
            shuffle_seed=shuffle_seed,
            callbacks=callbacks,
        )
        return self.summarize(setting, result, trial_id=trial_id, hyperparameters=hyperparameters)

    def summarize(
        self,
        setting: dict,
        result: replicas.BankResult,
        *,
        trial_id: str,
        hyperparameters: dict | None = None,
    ) -> TrialOutcome:
        restarts = int(setting["restarts"])
        runs = reliability.run_records(
            seeds=result.seeds,
            train_loss=result.train_loss,
            val_accuracy=result.val_accuracy,
            diverged=result.diverged,
            restarts=restarts,
            target=self.target,
        )
        cost = reliability.training_cost(
            epochs=int(setting["epochs"]), restarts=restarts, steps_per_epoch=self.steps_per_epoch(setting)
        )
        displayed = setting if hyperparameters is None else hyperparameters
        summary = reliability.summarize(trial_id, displayed, runs, fit_seconds=result.fit_seconds, cost=cost)
        return TrialOutcome(setting=setting, runs=tuple(runs), summary=summary, bank_result=result)


def _canonical(setting: dict) -> list:
    return sorted((key, value if not isinstance(value, float) else repr(value)) for key, value in setting.items())


class VoterHyperModel(ReliabilityHyperModel):
    """The voter's hypermodel: banks of `Dense(1, sigmoid)` over 9 bits, mean squared error."""

    def __init__(self, space: SearchSpace, **options):
        super().__init__("voter", space, **options)


class MatcherHyperModel(ReliabilityHyperModel):
    """The matcher's hypermodel: banks of the shared-layer matcher, binary cross-entropy."""

    def __init__(self, space: SearchSpace, **options):
        super().__init__("matcher", space, **options)


HYPERMODELS = {"voter": VoterHyperModel, "matcher": MatcherHyperModel}
