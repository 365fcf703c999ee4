"""The KerasTuner tuner of a reliability search and the choice of its oracle.

`ReliabilityTuner` is a `keras_tuner.Tuner` whose `run_trial` trains one replica bank per trial and
stores, in the trial's folder, the kvsf-tune record, the bank's weights and the TensorBoard data.
The oracle (random, Bayesian, Hyperband or grid) is KerasTuner's own.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from kvsf_tune import interrupts, records, reliability, replicas, tensorboard
from kvsf_tune.confirmation import failure_reason
from kvsf_tune.errors import UsageError
from kvsf_tune.hypermodels import OBJECTIVE, ReliabilityHyperModel, TrialOutcome, trial_metrics
from kvsf_tune.options import TUNERS

logger = logging.getLogger(__name__)

# Hyperband's reduction factor: each round keeps a third of the trials and trains them three times
# as long. It is KerasTuner's default, passed explicitly because `hyperband_epochs` relies on it.
HYPERBAND_FACTOR = 3


def make_oracle(name: str, hypermodel: ReliabilityHyperModel, *, max_trials: int, seed: int):
    """Create KerasTuner's oracle for a tuner name, maximising the pass-rate lower bound.

    Failed trials never stop the search: the limit of consecutive failures is above `max_trials`.
    """
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    space = hypermodel.space
    common: dict[str, Any] = {
        "objective": objective,
        "seed": oracle_seed(seed),
        "hyperparameters": space.hyperparameters(),
        "tune_new_entries": False,
        "allow_new_entries": False,
        "max_consecutive_failed_trials": max_trials + 1,
    }
    if name == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    if name == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=max_trials, num_initial_points=bayesian_initial_points(space, max_trials), **common
        )
    if name == "grid":
        return keras_tuner.oracles.GridSearchOracle(max_trials=max_trials, **common)
    if name == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(
            max_epochs=hyperband_max_epochs(space), factor=HYPERBAND_FACTOR, **common
        )
    raise UsageError(f"Invalid --tuner {name!r}: use one of: {', '.join(TUNERS)}.")


def bayesian_initial_points(space, max_trials: int) -> int:
    """Return how many random trials the Bayesian oracle runs before its Gaussian process.

    KerasTuner's default is three per hyperparameter: 18 for the default spaces, more than a default
    search's 12 or 16 trials, so the Gaussian process would never run. Half of the trials, and at
    least 3, are random instead, unless KerasTuner's default is smaller.
    """
    keras_tuner_default = max(3 * len(space.hyperparameters().space), 3)
    return min(keras_tuner_default, max(3, max_trials // 2))


def oracle_seed(seed: int) -> int:
    """Map a search seed to the seed given to KerasTuner's oracle.

    KerasTuner 1.4.8 seeds the n-th sampled value with `seed + n`, so the search seeds 0 and 1
    would share almost every trial. Spreading the seed through NumPy's `SeedSequence` keeps
    nearby seeds apart. The result is never 0, which KerasTuner would replace by a random seed,
    and stays below 2**31 for the NumPy and scikit-learn random states of the Bayesian oracle.
    """
    import numpy as np

    return int(np.random.SeedSequence(seed).generate_state(1)[0] >> 1) + 1


def hyperband_max_epochs(space) -> int:
    """Return the largest epochs value of a space, which Hyperband uses as its budget."""
    domain = space.domains()["epochs"]
    if "values" in domain:
        return int(max(domain["values"]))
    return int(domain["max_value"])


def hyperband_epochs(max_epochs: int) -> list[int]:
    """Return the epochs a Hyperband trial can train, smallest first.

    A trial in bracket b and round r trains `ceil(max_epochs / factor ** (b - r))` epochs, and the
    brackets go down to one epoch. This follows KerasTuner 1.4.8's `HyperbandOracle._get_epochs`
    with its default minimum of one epoch.
    """
    budgets = set()
    divisor = 1
    while max_epochs / divisor >= 1:
        budgets.add(math.ceil(max_epochs / divisor))
        divisor *= HYPERBAND_FACTOR
    return sorted(budgets)


def experiment_domains(tuner: str, space) -> dict[str, dict]:
    """Return the hyperparameter domains of a search's TensorBoard HParams experiment.

    Hyperband's space has its epochs fixed at the budget, but each trial trains one of Hyperband's
    own epoch budgets, so those budgets are the epochs domain.
    """
    domains = space.domains()
    if tuner == "hyperband":
        domains["epochs"] = {"type": "Int", "values": hyperband_epochs(hyperband_max_epochs(space))}
    return domains


class ReliabilityTuner(keras_tuner.Tuner):
    """Runs each trial as one replica bank and records it for `trials`, TensorBoard and `export`.

    Args:
        hypermodel: The model's `ReliabilityHyperModel`.
        oracle: A KerasTuner oracle from `make_oracle`.
        directory: The log dir.
        project_name: The search's folder name inside the log dir.
        overwrite: Start over instead of resuming. Defaults to `False`.
        progress: Receives `trial_started`, `epoch_callback` and `trial_finished` calls, or `None`.
    """

    def __init__(self, hypermodel, oracle, *, directory, project_name, overwrite=False, progress=None):
        super().__init__(
            oracle=oracle,
            hypermodel=hypermodel,
            directory=str(directory),
            project_name=project_name,
            overwrite=overwrite,
        )
        self.progress = progress

    def run_trial(self, trial, *args, **kwargs):
        hypermodel: ReliabilityHyperModel = self.hypermodel
        folder = Path(self.get_trial_dir(trial.trial_id))
        setting = hypermodel.setting(trial.hyperparameters)
        hyperparameters = _shown_values(trial.hyperparameters.values, setting)
        record = train_and_record(hypermodel, setting, folder, trial_id=trial.trial_id, hyperparameters=hyperparameters, progress=self.progress)
        if record.summary.status == reliability.FAILED:
            raise keras_tuner.errors.FailedTrialError(record.summary.message)
        return trial_metrics(record.summary)

    def on_trial_begin(self, trial):
        interrupts.raise_if_interrupted()
        super().on_trial_begin(trial)

    def save_model(self, trial_id, model, step=0):
        # The bank's weights are saved by `run_trial` in kvsf-tune's own layout.
        return None

    def on_search_begin(self):
        # KerasTuner's display writes tables to stdout; kvsf-tune reports progress itself.
        self.oracle.verbose = 0
        # KerasTuner 1.4.8 prints every failed trial's traceback on stderr because its
        # `config.DEBUG` is True. `on_trial_end` logs the failure instead, with the traceback at
        # debug level. NOTE: `keras_tuner.src.config` is private and may move in a later version.
        keras_tuner.src.config.DEBUG = False
        super().on_search_begin()

    def on_trial_end(self, trial):
        if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
            logger.warning("Trial %s failed: %s", trial.trial_id, failure_reason(trial.message))
            logger.debug("Trial %s failed with:\n%s", trial.trial_id, trial.message)
        super().on_trial_end(trial)


def train_and_record(
    hypermodel: ReliabilityHyperModel,
    setting: dict,
    folder: Path,
    *,
    trial_id: str,
    hyperparameters: dict,
    seeds: list[int] | None = None,
    shuffle_seed: int | None = None,
    confirmation_of: str | None = None,
    progress=None,
) -> records.TrialRecord:
    """Train a setting's bank and write its record, weights and TensorBoard data into `folder`.

    The record file is written last, so its presence marks a finished trial. An interrupted
    attempt leaves no record, and its TensorBoard files are cleared when the trial runs again.
    """
    if seeds is None:
        seeds, shuffle_seed = hypermodel.seeds_for(setting)
    folder.mkdir(parents=True, exist_ok=True)
    tensorboard.clear_run(folder)
    bank = hypermodel.build_bank(setting, seeds)

    callbacks = _trial_callbacks(
        hypermodel, setting, folder, trial_id=trial_id, confirmation_of=confirmation_of, progress=progress
    )
    outcome = hypermodel.train(
        setting, bank, shuffle_seed=shuffle_seed, trial_id=trial_id, hyperparameters=hyperparameters, callbacks=callbacks
    )
    record = _trial_record(
        hypermodel, setting, outcome, seeds=seeds, shuffle_seed=shuffle_seed, confirmation_of=confirmation_of
    )
    _save_trial(folder, record, bank)

    if progress is not None:
        progress.trial_finished(record.summary)
    logger.debug("Trial %s finished: %s", trial_id, record.summary)
    return record


class InterruptCheck(keras.callbacks.Callback):
    """Stops training at the end of an epoch if a Ctrl-C arrived and its exception was swallowed."""

    def on_epoch_end(self, epoch, logs=None):
        interrupts.raise_if_interrupted()


def _trial_callbacks(
    hypermodel: ReliabilityHyperModel,
    setting: dict,
    folder: Path,
    *,
    trial_id: str,
    confirmation_of: str | None,
    progress,
) -> list:
    """Return the trial's TensorBoard callback and, with a progress reporter, announce the trial."""
    callbacks = [
        tensorboard.epoch_curves(folder, restarts=int(setting["restarts"]), target=hypermodel.target),
        InterruptCheck(),
    ]
    if progress is not None:
        progress.trial_started(trial_id, setting, confirmation=confirmation_of is not None)
        callbacks.append(progress.epoch_callback())
    return callbacks


def _trial_record(
    hypermodel: ReliabilityHyperModel,
    setting: dict,
    outcome: TrialOutcome,
    *,
    seeds: list[int],
    shuffle_seed: int,
    confirmation_of: str | None,
) -> records.TrialRecord:
    return records.TrialRecord(
        model=hypermodel.model,
        summary=outcome.summary,
        runs=outcome.runs,
        replica_seeds=tuple(int(seed) for seed in seeds),
        shuffle_seed=int(shuffle_seed),
        restarts=int(setting["restarts"]),
        target=hypermodel.target,
        data_seed=hypermodel.data_seed,
        setting=setting,
        confirmation_of=confirmation_of,
    )


def _save_trial(folder: Path, record: records.TrialRecord, bank) -> None:
    """Write the bank's weights, the TensorBoard data and, last, the record that marks the trial finished."""
    replicas.save_bank(bank, folder / records.WEIGHTS_FILE)
    # A trial's session is named after its folder (trial_03); a confirmation's gets a readable name.
    session = f"confirmation of trial {record.confirmation_of}" if record.confirmation_of else None
    tensorboard.write_trial(folder, record, bank, session_name=session)
    records.save_trial(folder, record)


def _shown_values(values: dict, setting: dict) -> dict:
    # Hyperband's bookkeeping values (tuner/...) are not part of the setting a user reads. Its
    # `tuner/epochs` replaces the fixed epochs value, so the setting's epochs are the ones trained.
    return {name: setting.get(name, value) for name, value in values.items() if not name.startswith("tuner/")}
