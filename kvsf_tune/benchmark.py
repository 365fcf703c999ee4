"""Timing of the replica bank against plain `model.fit` on the exercise's matcher settings.

The settings are the exercise's: SGD with learning rate 0.01, binary cross-entropy, batch size 4,
10 epochs, the last 20% of the rows held out and measured after every epoch. Three ways to train
one seed are timed:

- plain: one `model.fit` per seed with Keras's defaults, as a KerasTuner execution runs it;
- tuned: the same, compiled with the bank's speed-ups (`steps_per_execution` = steps per epoch and
  `jit_compile=True`);
- bank: one replica bank of K seeds, built, compiled and trained in a fresh Python process, so the
  one-off XLA compile is paid as a trial pays it and peak memory is measured per bank size.

`kvsf_tune.benchmark_report` contains the resulting report and formats it. Run the child side alone
with `python -m kvsf_tune.benchmark --child --replicas K`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict

# `format_table` is imported for the CLI, which prints `benchmark.format_table(report)`.
from kvsf_tune.benchmark_report import BankTiming, BenchmarkReport, format_table, library_versions, machine_info
from kvsf_tune.errors import KvsfTuneError, UsageError

logger = logging.getLogger(__name__)

MODEL = "matcher"
LEARNING_RATE = 0.01
BATCH_SIZE = 4
DEFAULT_EPOCHS = 10
DEFAULT_REPLICAS = (1, 16, 64, 256)
DEFAULT_PLAIN_FITS = 1
SHUFFLE_SEED = 0


def parse_replicas(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of bank sizes such as `"1,16,64,256"`.

    Raises:
        UsageError: If an entry is not a positive integer.
    """
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UsageError(f"Invalid --replicas {text!r}: expected positive integers separated by commas, e.g. 1,16,64.")
    return sizes


def run(
    *,
    replicas: Sequence[int] = DEFAULT_REPLICAS,
    epochs: int = DEFAULT_EPOCHS,
    plain_fits: int = DEFAULT_PLAIN_FITS,
    rows: int | None = None,
) -> BenchmarkReport:
    """Time both plain baselines in this process and each bank size in a fresh process.

    Args:
        replicas: Bank sizes to time. Defaults to `(1, 16, 64, 256)`.
        epochs: Training epochs of every fit. Defaults to `10`, the exercise's.
        plain_fits: Plain fits per baseline, averaged. Defaults to `1`.
        rows: Keep only the first `rows` training rows and `rows // 4` validation rows, for quick
            checks. Defaults to `None`: the whole dataset (8,000 and 2,000 rows).

    Returns:
        A `BenchmarkReport`.

    Raises:
        UsageError: If a bank size, `epochs` or `plain_fits` is below 1, or `rows` is below 4.
    """
    _check_options(replicas, epochs=epochs, plain_fits=plain_fits, rows=rows)
    splits = load_splits(rows)
    warm_up()
    plain = time_plain_fits(splits, epochs=epochs, fits=plain_fits, tuned=False)
    tuned = time_plain_fits(splits, epochs=epochs, fits=plain_fits, tuned=True)
    banks = tuple(time_bank_in_subprocess(size, epochs=epochs, rows=rows) for size in replicas)
    return BenchmarkReport(
        settings=_settings(splits, epochs),
        plain_seconds_per_fit=plain,
        tuned_seconds_per_fit=tuned,
        plain_fits=plain_fits,
        banks=banks,
        machine=machine_info(),
        versions=library_versions(),
    )


def _check_options(replicas: Sequence[int], *, epochs: int, plain_fits: int, rows: int | None) -> None:
    if not replicas or min(replicas) < 1:
        raise UsageError(f"Invalid bank sizes {list(replicas)}: give at least one size, each 1 or more.")
    if epochs < 1:
        raise UsageError(f"Invalid epochs {epochs}: a fit needs at least 1 epoch.")
    if plain_fits < 1:
        raise UsageError(f"Invalid plain fits {plain_fits}: each baseline needs at least 1 fit.")
    if rows is not None and rows < 4:
        raise UsageError(f"Invalid rows {rows}: use at least 4, so that the validation split keeps 1 row.")


def load_splits(rows: int | None = None):
    """Return the matcher's `((x_train, y_train), (x_val, y_val))`, optionally cut to `rows` rows."""
    from kvsf_tune import data

    x_train, y_train, x_val, y_val = data.model_dataset(MODEL)
    if rows is not None:
        val_rows = max(1, rows // 4)
        x_train, y_train = tuple(x[:rows] for x in x_train), y_train[:rows]
        x_val, y_val = tuple(x[:val_rows] for x in x_val), y_val[:val_rows]
    return (x_train, y_train), (x_val, y_val)


def _settings(splits, epochs: int) -> dict:
    from kvsf_tune.replicas import steps_per_epoch

    (_, y_train), (_, y_val) = splits
    return {
        "model": MODEL,
        "optimizer": "sgd",
        "learning_rate": LEARNING_RATE,
        "batch_size": BATCH_SIZE,
        "epochs": epochs,
        "train_rows": len(y_train),
        "validation_rows": len(y_val),
        "steps_per_execution": steps_per_epoch(len(y_train), BATCH_SIZE),
    }


def time_plain_fits(splits, *, epochs: int, fits: int, tuned: bool) -> float:
    """Return the mean seconds of `fits` plain matcher fits, each from its own seed.

    Each fit builds and compiles a new model, as a KerasTuner execution does. With `tuned=False` the
    model keeps Keras's compile defaults. With `tuned=True` it runs a whole epoch per execution
    under XLA.
    """
    seconds = []
    for seed in range(fits):
        logger.info("Timing plain fit %d of %d (%s).", seed + 1, fits, "tuned" if tuned else "Keras defaults")
        seconds.append(_time_plain_fit(splits, epochs=epochs, seed=seed, tuned=tuned))
    return statistics.fmean(seconds)


def warm_up() -> None:
    """Run one tiny untimed fit so that no timing pays the process's one-time start-up.

    The first fit of a process also starts TensorFlow's thread pools and the XLA backend; a search
    pays that once, not once per trial. Compiling each new model or bank stays in the timings.
    """
    (x_train, y_train), (x_val, y_val) = load_splits(8)
    _fit_matcher((x_train, y_train), (x_val, y_val), epochs=1, seed=0, tuned=True)


def _time_plain_fit(splits, *, epochs: int, seed: int, tuned: bool) -> float:
    started = time.perf_counter()
    _fit_matcher(*splits, epochs=epochs, seed=seed, tuned=tuned)
    return time.perf_counter() - started


def _fit_matcher(train, validation, *, epochs: int, seed: int, tuned: bool) -> None:
    from kvsf_tune import models
    from kvsf_tune.replicas import make_optimizer, steps_per_epoch

    (x_train, y_train), (x_val, y_val) = train, validation
    model = models.matcher(seed=seed, compile=not tuned)
    if tuned:
        model.compile(
            optimizer=make_optimizer("sgd", LEARNING_RATE),
            loss="binary_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_epoch(len(y_train), BATCH_SIZE),
            jit_compile=True,
        )
    model.fit(list(x_train), y_train, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(list(x_val), y_val), verbose=0)


def time_bank_in_subprocess(replicas: int, *, epochs: int, rows: int | None = None) -> BankTiming:
    """Time one bank size in a fresh Python process and return its timing.

    Raises:
        KvsfTuneError: If the child process fails or prints no timing.
    """
    logger.info("Timing a bank of %d replicas in a new process.", replicas)
    command = [sys.executable, "-m", "kvsf_tune.benchmark", "--child", "--replicas", str(replicas), "--epochs", str(epochs)]
    if rows is not None:
        command += ["--rows", str(rows)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)

    lines = finished.stdout.strip().splitlines()
    if finished.returncode != 0 or not lines:
        errors = finished.stderr.strip().splitlines()
        reason = errors[-1] if errors else "no output on stderr"
        raise KvsfTuneError(
            f"Timing a bank of {replicas} replicas failed (exit code {finished.returncode}): {reason}. "
            f"Run `{' '.join(command)}` to see the whole error."
        )
    return BankTiming(**json.loads(lines[-1]))


def time_bank(replicas: int, *, epochs: int, rows: int | None = None) -> BankTiming:
    """Build, compile and train a bank of `replicas` matchers in this process and time it.

    Peak memory is this process's, so call it in a fresh process (`time_bank_in_subprocess`) to
    measure one bank size alone.
    """
    from kvsf_tune import replicas as bank_api

    (x_train, y_train), validation = load_splits(rows)
    warm_up()
    timer = _epoch_timer()
    started = time.perf_counter()
    bank = bank_api.build_bank(MODEL, list(range(replicas)))
    steps = bank_api.steps_per_epoch(len(y_train), BATCH_SIZE)
    bank_api.compile_bank(bank, bank_api.make_optimizer("sgd", LEARNING_RATE), steps_per_execution=steps)
    bank_api.train_bank(
        bank,
        (x_train, y_train),
        validation,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        shuffle_seed=SHUFFLE_SEED,
        callbacks=[timer],
    )
    seconds = time.perf_counter() - started
    return BankTiming(
        replicas=replicas,
        seconds=seconds,
        compile_seconds=_compile_estimate(timer.seconds),
        peak_rss_mb=peak_rss_mb(),
    )


def _epoch_timer():
    """Return a Keras callback whose `seconds` lists each epoch's wall time."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    return EpochTimer()


def _compile_estimate(epoch_seconds: list[float]) -> float | None:
    # The first epoch traces and compiles the training step and the validation measurement. Later
    # epochs only run them, so their median estimates the first epoch's running time.
    if len(epoch_seconds) < 2:
        return None
    return max(0.0, epoch_seconds[0] - statistics.median(epoch_seconds[1:]))


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _child_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kvsf_tune.benchmark", description="Time one replica bank and print its timing as JSON."
    )
    parser.add_argument("--child", action="store_true", help="Required: run one bank timing in this process.")
    parser.add_argument("--replicas", type=int, required=True, help="Replicas in the bank.")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="Training epochs. Defaults to 10.")
    parser.add_argument("--rows", type=int, default=None, help="Use only the first ROWS training rows.")
    args = parser.parse_args(argv)
    if not args.child:
        parser.error("pass --child; the full benchmark is `kvsf-tune benchmark`")

    timing = time_bank(args.replicas, epochs=args.epochs, rows=args.rows)
    sys.stdout.write(json.dumps(asdict(timing)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
