"""Open an exported model, and evaluate it on labelled data or predict new rows with it.

`load_model` opens a `.keras` file or a SavedModel folder that `kvsf_tune.export` wrote and infers
from the shapes of its inputs whether it is the voter or the matcher. Data files are `.npz` or
`.csv` files, laid out as `read_data` describes.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kvsf_tune.data import MATCHER_SAMPLES, VOTER_BITS, model_dataset
from kvsf_tune.errors import UsageError

logger = logging.getLogger(__name__)

# Keras's binary accuracy counts a probability strictly above this as class 1.
THRESHOLD = 0.5
# Keras 3 (TensorFlow backend) clips probabilities to [epsilon, 1 - epsilon] before taking
# logarithms in binary cross-entropy, with `keras.backend.epsilon()` = 1e-7.
_EPSILON = 1e-7
# Names and shapes of the arrays of a data file, per model.
INPUT_KEYS = {"voter": (("x", VOTER_BITS),), "matcher": (("s1", MATCHER_SAMPLES), ("s2", MATCHER_SAMPLES))}
LABEL_KEY = "y"
# Suffixes of the single-file models `keras.models.load_model` opens: `.keras`, and legacy HDF5.
KERAS_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass(frozen=True)
class LoadedModel:
    """An exported model opened for inference.

    Attributes:
        kind: `"voter"` or `"matcher"`, read from the model's inputs.
        path: The `.keras` file or SavedModel folder.
        predict_fn: Maps a tuple of input arrays to probabilities of shape (n,).
    """

    kind: str
    path: Path
    predict_fn: Callable[[tuple[np.ndarray, ...]], np.ndarray] = field(repr=False)

    def probabilities(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        """Return the probability of class 1 for every row, shape (n,)."""
        return np.asarray(self.predict_fn(tuple(np.asarray(x, dtype="float32") for x in inputs))).reshape(-1)


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and loss of a model on one labelled dataset.

    Attributes:
        model: `"voter"` or `"matcher"`.
        path: The evaluated model.
        data: The data file, or a description of the exercise's validation split.
        rows: Labelled rows evaluated.
        accuracy: Fraction of rows whose class (probability > 0.5) equals the label.
        loss: The exercise's loss of the model: mean squared error (voter) or binary cross-entropy
            (matcher).
    """

    model: str
    path: str
    data: str
    rows: int
    accuracy: float
    loss: float

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Prediction:
    """Output of `predict_file`: the written path, the row count and the number of rows of class 1."""

    path: Path
    rows: int
    positives: int


def load_model(path: str | Path) -> LoadedModel:
    """Open an exported model: a `.keras` file (safe mode) or a SavedModel folder.

    Raises:
        UsageError: The path is missing, is not a model file or folder, cannot be loaded, or is
            neither a voter nor a matcher.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"Model not found: {path}. Pass the path that `kvsf-tune export` printed.")
    if path.is_dir():
        return _load_saved_model(path)
    if path.suffix not in KERAS_FILE_SUFFIXES:
        # Keras's own message for such a file suggests `keras.layers.TFSMLayer`, which does not apply here.
        raise UsageError(
            f"{path} is not a .keras file or a SavedModel folder. "
            "Pass the .keras file or SavedModel folder that `kvsf-tune export` printed."
        )
    return _load_keras(path)


def evaluate_model(path: str | Path, *, data_seed: int = 42, data: str | Path | None = None) -> Evaluation:
    """Measure a model's accuracy and loss on the exercise's validation split or on a data file.

    Args:
        path: A `.keras` file or SavedModel folder written by `export_trial`.
        data_seed: Seed of the exercise's dataset when `data` is `None`. Defaults to `42`.
        data: A `.npz` or `.csv` file with labels, laid out as `read_data` describes. Defaults to
            `None`, which uses the exercise's validation split.

    Returns:
        An `Evaluation`.
    """
    loaded = load_model(path)
    if data is None:
        _, _, inputs, labels = model_dataset(loaded.kind, data_seed)
        return evaluate_loaded(loaded, (inputs, labels), f"validation split of data seed {data_seed}")

    inputs, labels = read_data(data, loaded.kind, labels=True)
    return evaluate_loaded(loaded, (inputs, labels), str(data))


def predict_file(path: str | Path, input_path: str | Path, *, out: str | Path | None = None) -> Prediction:
    """Write the probability and the 0/1 class of every row of an input file.

    Args:
        path: A `.keras` file or SavedModel folder written by `export_trial`.
        input_path: A `.npz` or `.csv` file laid out as `read_data` describes. Labels are not needed.
        out: A `.csv` (columns `probability,class`) or `.npz` (arrays `probability`, `class`) file.
            Defaults to `None`: `<input stem>.predictions.csv` beside the input.

    Returns:
        A `Prediction`.
    """
    input_path = Path(input_path)
    out_path = _prediction_path(input_path, out)
    loaded = load_model(path)
    inputs, _ = read_data(input_path, loaded.kind, labels=False)

    probabilities = loaded.probabilities(inputs)
    classes = (probabilities > THRESHOLD).astype("int64")
    _write_predictions(out_path, probabilities, classes)
    return Prediction(path=out_path, rows=len(classes), positives=int(classes.sum()))


def read_data(path: str | Path, kind: str, *, labels: bool) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    """Read a model's inputs, and labels if asked, from a `.npz` or `.csv` file.

    A `.npz` file contains `x` of shape (n, 9) for the voter, or `s1` and `s2` of shape (n, 5) for the
    matcher, and `y` of shape (n,) with labels 0 or 1. A `.csv` file has one row per example: 9
    columns for the voter, or 10 for the matcher (s1 then s2), then the label as the last column.
    A first row that is not numeric is taken as a header.

    Args:
        path: The file.
        kind: `"voter"` or `"matcher"`.
        labels: Whether labels are required. Without them, an extra last CSV column is ignored.

    Returns:
        `(inputs, labels)`: the input arrays as float32, and the labels or `None`.

    Raises:
        UsageError: A missing file, an unknown suffix, or a missing array, column or wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"Data file not found: {path}.")
    if path.suffix == ".npz":
        return _read_npz(path, kind, labels)
    if path.suffix == ".csv":
        return _read_csv(path, kind, labels)
    raise UsageError(f"Unsupported data file {path}: expected a .npz or .csv file.")


def _load_keras(path: Path) -> LoadedModel:
    import keras

    try:
        model = keras.models.load_model(path)
    except (ValueError, OSError, TypeError) as error:
        raise UsageError(f"Failed to load {path} as a Keras model: {error}") from error
    kind = _kind_of(path, [tuple(tensor.shape) for tensor in model.inputs])
    return LoadedModel(kind, path, keras_predict_fn(model))


def keras_predict_fn(model) -> Callable[[tuple[np.ndarray, ...]], np.ndarray]:
    """Wrap an in-memory Keras model's `predict` as a `LoadedModel.predict_fn`."""

    def predict(inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        features = inputs[0] if len(inputs) == 1 else list(inputs)
        return model.predict(features, batch_size=1024, verbose=0)

    return predict


def _load_saved_model(path: Path) -> LoadedModel:
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise UsageError(f"{path} is a folder but not a SavedModel: saved_model.pb is missing.")
    loaded = tf.saved_model.load(str(path))
    serve = getattr(loaded, "serve", None)
    if serve is None or not getattr(serve, "input_signature", None):
        raise UsageError(f"SavedModel {path} has no `serve` endpoint. Export it with `kvsf-tune export --format savedmodel`.")

    structure = serve.input_signature[0]
    kind = _kind_of(path, [tuple(spec.shape.as_list()) for spec in tf.nest.flatten(structure)])

    def predict(inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        # Calling through `loaded` keeps the restored object, which owns the variables, alive.
        return loaded.serve(list(inputs) if isinstance(structure, (list, tuple)) else inputs[0]).numpy()

    return LoadedModel(kind, path, predict)


def _kind_of(path: Path, shapes: list[tuple]) -> str:
    widths = [shape[-1] for shape in shapes if len(shape) == 2]
    if len(shapes) == 1 and widths == [VOTER_BITS]:
        return "voter"
    if len(shapes) == 2 and widths == [MATCHER_SAMPLES, MATCHER_SAMPLES]:
        return "matcher"
    raise UsageError(
        f"{path} is neither a voter nor a matcher: its inputs have shapes {shapes}, but expected one input "
        f"of {VOTER_BITS} (voter) or two inputs of {MATCHER_SAMPLES} (matcher)."
    )


def evaluate_loaded(loaded: LoadedModel, data: tuple[tuple[np.ndarray, ...], np.ndarray], description: str) -> Evaluation:
    """Measure accuracy and the exercise's loss of `loaded` on `(inputs, labels)`, described by `description`."""
    inputs, labels = data
    probabilities = loaded.probabilities(inputs).astype("float64")
    labels = np.asarray(labels, dtype="float64").reshape(-1)
    correct = (probabilities > THRESHOLD) == (labels > THRESHOLD)
    return Evaluation(
        model=loaded.kind,
        path=str(loaded.path),
        data=description,
        rows=len(labels),
        accuracy=float(correct.mean()),
        loss=_exercise_loss(loaded.kind, labels, probabilities),
    )


def _exercise_loss(kind: str, labels: np.ndarray, probabilities: np.ndarray) -> float:
    if kind == "voter":
        return float(np.mean((labels - probabilities) ** 2))
    clipped = np.clip(probabilities, _EPSILON, 1 - _EPSILON)
    return float(np.mean(-(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))))


def _read_npz(path: Path, kind: str, labels: bool) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            stored = {key: arrays[key] for key in arrays.files}
    except (ValueError, OSError) as error:
        raise UsageError(f"Failed to read {path} as a .npz file: {error}") from error

    needed = [key for key, _ in INPUT_KEYS[kind]] + ([LABEL_KEY] if labels else [])
    missing = [key for key in needed if key not in stored]
    if missing:
        raise UsageError(
            f"{path} has no array {missing[0]!r}: a {kind} .npz file needs {_npz_layout(kind, labels)}. "
            f"It contains: {', '.join(sorted(stored)) or 'no arrays'}."
        )
    inputs = tuple(_checked_input(path, kind, key, stored[key], width) for key, width in INPUT_KEYS[kind])
    return inputs, _checked_labels(path, stored[LABEL_KEY], inputs) if labels else None


def _npz_layout(kind: str, labels: bool) -> str:
    parts = [f"{key!r} of shape (n, {width})" for key, width in INPUT_KEYS[kind]]
    if labels:
        parts.append(f"{LABEL_KEY!r} of shape (n,) with labels 0 or 1")
    return ", ".join(parts)


def _checked_input(path: Path, kind: str, key: str, array: np.ndarray, width: int) -> np.ndarray:
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        raise UsageError(f"{path}: array {key!r} has shape {array.shape}, but a {kind} needs shape (n, {width}) with n > 0.")
    if not np.issubdtype(array.dtype, np.number):
        raise UsageError(f"{path}: array {key!r} has dtype {array.dtype}, but numbers are expected.")
    if not np.isfinite(array).all():
        row = int(np.argmax(~np.isfinite(array).all(axis=1)))
        raise UsageError(f"{path}: array {key!r} has a NaN or infinite value in row {row}. Inputs must be finite.")
    return array.astype("float32")


def _checked_labels(path: Path, labels: np.ndarray, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    rows = len(inputs[0])
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.shape != (rows,):
        raise UsageError(f"{path}: array {LABEL_KEY!r} has shape {labels.shape}, but ({rows},) is expected: one label per row.")
    invalid = ~np.isin(labels, (0, 1))
    if invalid.any():
        row = int(np.argmax(invalid))
        raise UsageError(f"{path}: label {labels[row]!r} in row {row} is invalid. Labels must be 0 or 1.")
    return labels.astype("float32")


def _read_csv(path: Path, kind: str, labels: bool) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    table = _csv_table(path)
    widths = [width for _, width in INPUT_KEYS[kind]]
    features = sum(widths)
    allowed = (features + 1,) if labels else (features, features + 1)
    if table.shape[1] not in allowed:
        expected = " or ".join(str(count) for count in allowed)
        raise UsageError(
            f"{path} has {table.shape[1]} columns, but a {kind} .csv file needs {expected}: "
            f"{_csv_layout(kind)}{', then the label 0 or 1' if labels else ', then an optional label'}."
        )

    edges = np.cumsum([0, *widths])
    inputs = tuple(table[:, start:end] for start, end in zip(edges[:-1], edges[1:]))
    if not labels:
        return inputs, None
    return inputs, _checked_labels(path, table[:, features], inputs)


def _csv_layout(kind: str) -> str:
    if kind == "voter":
        return f"{VOTER_BITS} bits"
    return f"{MATCHER_SAMPLES} samples of s1, then {MATCHER_SAMPLES} of s2"


def _csv_table(path: Path) -> np.ndarray:
    with path.open(newline="") as file:
        rows = [row for row in csv.reader(file) if any(cell.strip() for cell in row)]
    if rows and not _is_numeric(rows[0]):
        rows = rows[1:]
    if not rows:
        raise UsageError(f"{path} has no data rows.")

    for number, row in enumerate(rows, start=1):
        if len(row) != len(rows[0]) or not _is_numeric(row):
            raise UsageError(
                f"{path}: data row {number} is invalid ({','.join(row)!r}). Every row needs "
                f"{len(rows[0])} numeric columns."
            )

    table = np.array([[float(cell) for cell in row] for row in rows], dtype="float32")
    finite = np.isfinite(table).all(axis=1)
    if not finite.all():
        number = int(np.argmin(finite)) + 1
        raise UsageError(f"{path}: data row {number} has a NaN or infinite value. Values must be finite.")
    return table


def _is_numeric(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _prediction_path(input_path: Path, out: str | Path | None) -> Path:
    if out is None:
        return input_path.with_name(f"{input_path.stem}.predictions.csv")
    path = Path(out)
    if path.suffix not in (".csv", ".npz"):
        raise UsageError(f"Invalid --out {path}: predictions are written as .csv or .npz. Use one of those suffixes.")
    if path.resolve() == input_path.resolve():
        raise UsageError(f"Invalid --out {path}: it is the input file, which would be overwritten. Pass another path.")
    return path


def _write_predictions(path: Path, probabilities: np.ndarray, classes: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        logger.info("Overwriting %s", path)
    if path.suffix == ".npz":
        np.savez(path, probability=probabilities, **{"class": classes})
        return

    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["probability", "class"])
        writer.writerows((f"{float(p):.9g}", int(c)) for p, c in zip(probabilities, classes))
