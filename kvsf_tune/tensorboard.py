"""TensorBoard records of a search: the HParams experiment, one session per trial, curves, weights.

Layout under `<log dir>/<project>/`. TensorBoard names each run after its folder:

    <project>/                    the HParams experiment config (hyperparameters and METRICS)
    <project>/trial_<id>/         one HParams session and the trial's curves, metrics and weights
    <project>/confirmation_<id>/  the same for the confirmation of trial <id>

Tags in a trial's or confirmation's folder:

    epoch/loss_mean, epoch/val_accuracy_mean, epoch/val_accuracy_min, epoch/val_accuracy_max,
    epoch/pass_fraction            one point per epoch, step = epochs completed
    pass_rate_lower_bound, pass_rate, val_accuracy_mean, val_accuracy_min, fit_seconds
                                   the HParams metrics, step 0
    weights/<layer>/kernel, weights/<layer>/bias
                                   histograms over the runs' kept restarts, step 0
    weights/representative_run     markdown table of one run's weights, step 0
    runs/val_accuracy              histogram of the runs' final validation accuracies, step 0
    runs/val_accuracy_chart        the same distribution as a bar-chart image, step 0

Each session's group name is the project and the folder name (`voter/trial_03`) or the project and
the `session_name` the caller gives (`voter/confirmation of trial 03`). The project keeps the trials
of two searches under one log dir apart. The extra hyperparameter `session` is `"trial"` or
`"confirmation"`, so the HParams table can filter on it.

TensorFlow and TensorBoard are imported inside the functions, so the CLI can import this module
without them. The `tensorboard` command's helpers live in `kvsf_tune.tensorboard_server` and are
re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kvsf_tune import tensorboard_report
from kvsf_tune.reliability import COMPLETED
from kvsf_tune.tensorboard_server import (  # noqa: F401 (the `tensorboard` command's helpers, re-exported)
    check_server_options,
    is_loopback,
    serve,
    server_url,
    tensorboard_command,
)

logger = logging.getLogger(__name__)

METRICS = ("pass_rate_lower_bound", "pass_rate", "val_accuracy_mean", "val_accuracy_min", "fit_seconds")

# The extra hyperparameter that distinguishes trials from confirmations in the HParams table.
SESSION_HPARAM = "session"
SESSION_KINDS = ("confirmation", "trial")

EVENT_FILE_PATTERN = "events.out.tfevents.*"


def _metric_infos(target: float) -> dict[str, tuple[str, str]]:
    """Return each metric's display name and description."""
    return {
        "pass_rate_lower_bound": (
            "pass-rate lower bound",
            f"95% Wilson lower bound of the fraction of runs whose final validation accuracy reached {target}.",
        ),
        "pass_rate": ("pass rate", f"Fraction of runs whose final validation accuracy reached {target}."),
        "val_accuracy_mean": ("mean val accuracy", "Mean final validation accuracy of the runs' kept restarts."),
        "val_accuracy_min": ("min val accuracy", "Lowest final validation accuracy of the runs' kept restarts."),
        "fit_seconds": ("fit seconds", "Wall time of the trial's training, all runs and restarts together."),
    }


def write_experiment(project: Path, domains: dict[str, dict], *, target: float) -> None:
    """Write the search's HParams experiment config into the project folder, once.

    Every hyperparameter is declared with its domain, numbers as numbers, plus the `session`
    hyperparameter (`"trial"` or `"confirmation"`), and the `METRICS` with display names. A folder
    that already contains an experiment is left as it is, so a resumed search keeps a single config.
    Event files without one, left by an interrupted write, are replaced.

    Args:
        project: The search's folder, `<log dir>/<project>`.
        domains: Per hyperparameter, `{"type": ..., "values": [...]}` or `{"type": ...,
            "min_value": ..., "max_value": ...}`, as `SearchSpace.domains()` returns them.
        target: Target accuracy of a run, quoted in the metrics' descriptions.

    Raises:
        ValueError: If a hyperparameter is named `session`.
    """
    from tensorboard.plugins.hparams import api as hp

    project = Path(project)
    if SESSION_HPARAM in domains:
        raise ValueError(f"The hyperparameter name {SESSION_HPARAM!r} is reserved for TensorBoard's session kind.")
    if read_experiment(project) is not None:
        logger.debug("Kept the HParams experiment already in %s.", project)
        return

    clear_run(project)
    hparams = [hp.HParam(name, _domain(domain)) for name, domain in domains.items()]
    hparams.append(hp.HParam(SESSION_HPARAM, hp.Discrete(list(SESSION_KINDS)), description="Trial or confirmation."))
    metrics = [
        hp.Metric(tag, display_name=name, description=description)
        for tag, (name, description) in _metric_infos(target).items()
    ]
    with _summary_writer(project):
        hp.hparams_config(hparams=hparams, metrics=metrics)


def _domain(domain: dict):
    """Return the `hparams` domain of one `SearchSpace.domains()` entry, or `None` when mixed."""
    from tensorboard.plugins.hparams import api as hp

    if "values" in domain:
        values = _discrete_values(domain["values"])
        return hp.Discrete(values) if values else None
    if domain.get("type") == "Int":
        return hp.IntInterval(int(domain["min_value"]), int(domain["max_value"]))
    return hp.RealInterval(float(domain["min_value"]), float(domain["max_value"]))


def _discrete_values(values: list) -> list | None:
    """Return the values with one Python type, as `hp.Discrete` needs; ints mixed with floats become floats."""
    values = [_python_scalar(value) for value in values]
    for kind in (bool, str):
        if values and all(isinstance(value, kind) for value in values):
            return values
    if not values or any(isinstance(value, bool) or not isinstance(value, (int, float)) for value in values):
        return None
    if all(isinstance(value, int) for value in values):
        return values
    return [float(value) for value in values]


def _python_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def read_experiment(project: Path):
    """Return the HParams experiment (`api_pb2.Experiment`) in a folder's own event files, or `None`."""
    from tensorboard.plugins.hparams import metadata

    for value in _summary_values(Path(project)):
        if value.tag == metadata.EXPERIMENT_TAG:
            return metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
    return None


def _summary_values(folder: Path) -> Iterator:
    from tensorboard.backend.event_processing import event_file_loader

    for path in sorted(folder.glob(EVENT_FILE_PATTERN)):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            yield from event.summary.value


def clear_run(folder: Path) -> None:
    """Delete the TensorBoard event files in a folder (not in its sub-folders).

    Call it before a trial or confirmation is trained again, so an interrupted earlier attempt
    leaves no duplicated or half-written data behind.
    """
    leftovers = sorted(Path(folder).glob(EVENT_FILE_PATTERN))
    for path in leftovers:
        path.unlink()
    if leftovers:
        files = "file" if len(leftovers) == 1 else "files"
        logger.info("Removed %d TensorBoard event %s left in %s by an earlier attempt.", len(leftovers), files, folder)


def epoch_curves(folder: Path, *, restarts: int, target: float):
    """Create the Keras callback that writes a trial's per-epoch curves into its folder.

    Per epoch, each run is represented by its restart with the lowest training loss of that
    epoch. The curves are the mean training loss, the mean, min and max validation accuracy, and
    the fraction of runs at or above `target`. Pass it to `replicas.train_bank(callbacks=[...])`.

    Args:
        folder: The trial's or confirmation's folder.
        restarts: Restarts per run.
        target: Target accuracy of a run.

    Returns:
        A `keras.callbacks.Callback`.
    """
    from kvsf_tune.tensorboard_curves import EpochCurves

    return EpochCurves(Path(folder), restarts=restarts, target=target)


def write_trial(
    folder: Path,
    record,
    bank,
    *,
    session_name: str | None = None,
    hparams: dict | None = None,
) -> None:
    """Write a finished trial's HParams session, metrics, weight histograms, table and accuracy chart.

    Args:
        folder: The trial's or confirmation's folder. Its parent contains the experiment.
        record: The trial's `records.TrialRecord`.
        bank: The trained `ReplicaBank` the record describes.
        session_name: Name of the session in the HParams table, after the project name and a
            slash (`voter/confirmation of trial 03`). Defaults to `None`, which uses the folder
            name (`voter/trial_03`).
        hparams: Hyperparameter values of the session. Defaults to `None`, which takes
            `record.summary.hyperparameters` restricted to the names the experiment declares.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    folder = Path(folder)
    values = _session_hparams(folder.parent, record, hparams)
    group = f"{folder.parent.name}/{session_name or folder.name}"
    with _summary_writer(folder):
        hp.hparams(values, trial_id=group)
        _write_metrics(record.summary)
        tf.summary.experimental.write_raw_pb(_session_end(record.summary.status).SerializeToString(), step=0)
        _write_weights(record, bank)
        _write_accuracies(record)


def _session_hparams(project: Path, record, hparams: dict | None) -> dict:
    """Return the session's hyperparameter values as bool, int, float or str."""
    if hparams is None:
        hparams = dict(record.summary.hyperparameters)
        experiment = read_experiment(project)
        if experiment is not None:
            declared = {info.name for info in experiment.hparam_infos}
            hparams = {name: value for name, value in hparams.items() if name in declared}

    values = {name: _python_scalar(value) for name, value in hparams.items()}
    values = {name: value for name, value in values.items() if isinstance(value, (bool, int, float, str))}
    values.setdefault(SESSION_HPARAM, "trial" if record.confirmation_of is None else "confirmation")
    return values


def _write_metrics(summary) -> None:
    import tensorflow as tf

    accuracy = summary.val_accuracy
    metrics = {
        "pass_rate_lower_bound": summary.pass_rate_lower_bound,
        "pass_rate": summary.pass_rate,
        "val_accuracy_mean": accuracy.get("mean"),
        "val_accuracy_min": accuracy.get("min"),
        "fit_seconds": summary.fit_seconds,
    }
    for tag, value in metrics.items():
        if value is not None:
            tf.summary.scalar(tag, float(value), step=0)


def _session_end(status: str):
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hparams_summary

    code = api_pb2.STATUS_SUCCESS if status == COMPLETED else api_pb2.STATUS_FAILURE
    return hparams_summary.session_end_pb(code)


def _write_weights(record, bank) -> None:
    """Write weight histograms over the runs' kept restarts and the representative run's table."""
    import tensorflow as tf

    per_run = [bank.replica_weights(run.replica) for run in record.runs]
    for index, layer in enumerate(tensorboard_report.LAYER_NAMES[record.model]):
        for offset, kind in enumerate(("kernel", "bias")):
            values = np.concatenate([weights[2 * index + offset].ravel() for weights in per_run])
            finite = values[np.isfinite(values)]
            if len(finite):
                tf.summary.histogram(f"weights/{layer}/{kind}", finite, step=0)

    table = tensorboard_report.representative_table(record, bank)
    tf.summary.text("weights/representative_run", table, step=0)


def _write_accuracies(record) -> None:
    import tensorflow as tf

    accuracies = np.array([run.val_accuracy for run in record.runs], dtype="float64")
    accuracies = accuracies[np.isfinite(accuracies)]
    if not len(accuracies):
        return

    tf.summary.histogram("runs/val_accuracy", accuracies, step=0)
    chart = tensorboard_report.accuracy_chart(accuracies, target=record.target)
    tf.summary.image("runs/val_accuracy_chart", chart.image[None], step=0, description=chart.description)


@contextlib.contextmanager
def _summary_writer(folder: Path):
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(folder))
    try:
        with writer.as_default():
            yield writer
    finally:
        writer.close()
