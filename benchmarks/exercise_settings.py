"""Measure how often the exercise's own settings pass 0.95 validation accuracy, one run per seed.

Trains 256 seeds of each model at once in a replica bank with the exercise's settings, no
restarts: the matcher with SGD (learning rate 0.01), batch 4, 10 epochs; the voter with RMSprop
(learning rate 0.001), batch 32, 10 epochs. Prints the number of passing runs per model.

    python benchmarks/exercise_settings.py [--seeds 256] [--target 0.95]
"""

from __future__ import annotations

import argparse

from kvsf_tune import console, data, replicas

EXERCISE_SETTINGS = {
    "matcher": {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 4, "epochs": 10},
    "voter": {"optimizer": "rmsprop", "learning_rate": 0.001, "batch_size": 32, "epochs": 10},
}


def pass_count(model: str, seeds: int, target: float) -> tuple[int, float, float]:
    """Train `seeds` runs of a model's exercise setting; return passes and the accuracy range."""
    setting = EXERCISE_SETTINGS[model]
    x_train, y_train, x_val, y_val = data.model_dataset(model)
    bank = replicas.build_bank(model, list(range(1000, 1000 + seeds)))
    steps = replicas.steps_per_epoch(len(y_train), setting["batch_size"])
    replicas.compile_bank(bank, replicas.make_optimizer(setting["optimizer"], setting["learning_rate"]), steps_per_execution=steps)
    result = replicas.train_bank(
        bank,
        (x_train, y_train),
        (x_val, y_val),
        batch_size=setting["batch_size"],
        epochs=setting["epochs"],
        shuffle_seed=0,
    )
    accuracy = result.val_accuracy
    return int((accuracy >= target).sum()), float(accuracy.min()), float(accuracy.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=256)
    parser.add_argument("--target", type=float, default=0.95)
    arguments = parser.parse_args()
    console.configure()
    console.load_tensorflow()
    for model in EXERCISE_SETTINGS:
        passes, low, high = pass_count(model, arguments.seeds, arguments.target)
        print(f"{model}: {passes} of {arguments.seeds} runs passed; validation accuracy {low:.3f} to {high:.3f}")


if __name__ == "__main__":
    main()
