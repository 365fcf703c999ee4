"""Tests of kvsf_tune.inference through the `evaluate` and `predict` commands.

They use the models that the `exported` fixture of conftest.py exports from a tiny search.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import DATA_SEED, INPUT_KEYS, run_cli

from kvsf_tune import data

# --- evaluate ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["voter-sequential", "matcher", "matcher-savedmodel"])
def test_evaluate_validation_matches_card(exported, name):
    outcome = run_cli("evaluate", exported[name]["path"], "--json")
    assert outcome.code == 0, outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["model"] == exported[name]["model"]
    assert abs(report["accuracy"] - exported[name]["card"]["val_accuracy"]) <= 1e-6
    assert abs(report["loss"] - exported[name]["card"]["val_loss"]) <= 1e-6


def test_evaluate_text_names_accuracy(exported):
    outcome = run_cli("evaluate", exported["voter-sequential"]["path"])
    assert outcome.code == 0, outcome.stderr
    assert "accuracy" in outcome.stdout


def test_evaluate_other_data_seed(exported):
    outcome = run_cli("evaluate", exported["matcher"]["path"], "--data-seed", "7", "--json")
    _, _, x_val, y_val = data.model_dataset("matcher", 7)
    probabilities = keras.models.load_model(exported["matcher"]["path"]).predict(list(x_val), verbose=0).reshape(-1)
    assert outcome.code == 0, outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["data"] == "validation split of data seed 7"
    assert abs(report["accuracy"] - float(np.mean((probabilities > 0.5) == (y_val > 0.5)))) <= 1e-6


def write_rows(model: str, folder: Path, *, rows: int = 40, labels: bool = True) -> dict[str, Path]:
    """Write the first validation rows as .npz and .csv (with a header row) and return both paths."""
    _, _, x_val, y_val = data.model_dataset(model, DATA_SEED)
    inputs = [x[:rows] for x in x_val]
    arrays = dict(zip(INPUT_KEYS[model], inputs))
    if labels:
        arrays["y"] = y_val[:rows]
    npz = folder / f"{model}_rows.npz"
    np.savez(npz, **arrays)

    table = np.concatenate([*inputs, y_val[:rows, None]] if labels else inputs, axis=1)
    path = folder / f"{model}_rows.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([f"column_{i}" for i in range(table.shape[1])])
        writer.writerows(table.tolist())
    return {"npz": npz, "csv": path}


def expected_accuracy(exported, name: str, rows: int = 40) -> float:
    arrays = np.load(exported[name]["arrays"])
    return float(np.mean((arrays["expected"][:rows] > 0.5) == (arrays["y"][:rows] > 0.5)))


@pytest.mark.parametrize("name", ["voter-sequential", "matcher"])
@pytest.mark.parametrize("suffix", ["npz", "csv"])
def test_evaluate_data_file(exported, tmp_path, name, suffix):
    files = write_rows(exported[name]["model"], tmp_path)
    outcome = run_cli("evaluate", exported[name]["path"], "--data", files[suffix], "--json")
    assert outcome.code == 0, outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["rows"] == 40
    assert abs(report["accuracy"] - expected_accuracy(exported, name)) <= 1e-6


def test_evaluate_npz_missing_key(exported, tmp_path):
    path = tmp_path / "half.npz"
    np.savez(path, s1=np.zeros((4, 5)), y=np.zeros(4))
    outcome = run_cli("evaluate", exported["matcher"]["path"], "--data", path)
    assert outcome.code == 2
    assert "'s2'" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_evaluate_npz_wrong_shape(exported, tmp_path):
    path = tmp_path / "narrow.npz"
    np.savez(path, x=np.zeros((4, 8)), y=np.zeros(4))
    outcome = run_cli("evaluate", exported["voter-sequential"]["path"], "--data", path)
    assert outcome.code == 2
    assert "(4, 8)" in outcome.stderr
    assert "(n, 9)" in outcome.stderr


def test_evaluate_csv_wrong_columns(exported, tmp_path):
    path = tmp_path / "narrow.csv"
    path.write_text("1,0,1\n0,1,1\n")
    outcome = run_cli("evaluate", exported["voter-sequential"]["path"], "--data", path)
    assert outcome.code == 2
    assert "3 columns" in outcome.stderr


def test_evaluate_invalid_label(exported, tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, x=np.zeros((3, 9)), y=np.array([0, 2, 1]))
    outcome = run_cli("evaluate", exported["voter-sequential"]["path"], "--data", path)
    assert outcome.code == 2
    assert "row 1" in outcome.stderr


def test_evaluate_missing_model(tmp_path):
    outcome = run_cli("evaluate", tmp_path / "absent.keras")
    assert outcome.code == 2
    assert "absent.keras" in outcome.stderr


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_model_path_not_a_model(tmp_path, command):
    path = tmp_path / "matcher.toml"
    path.write_text('[optimizer]\ntype = "Fixed"\nvalue = "adam"\n')
    options = ["--input", tmp_path / "rows.csv"] if command == "predict" else []

    outcome = run_cli(command, path, *options)

    assert outcome.code == 2
    assert outcome.stderr == (
        f"Error: {path} is not a .keras file or a SavedModel folder. "
        "Pass the .keras file or SavedModel folder that `kvsf-tune export` printed.\n"
    )
    assert outcome.stdout == ""


# --- predict ----------------------------------------------------------------------------------------


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return np.array([float(row["probability"]) for row in rows]), np.array([int(row["class"]) for row in rows])


@pytest.mark.parametrize("name", ["voter-sequential", "matcher", "matcher-savedmodel"])
@pytest.mark.parametrize("suffix", ["npz", "csv"])
def test_predict_file_matches_memory(exported, tmp_path, name, suffix):
    files = write_rows(exported[name]["model"], tmp_path, labels=False)
    outcome = run_cli("predict", exported[name]["path"], "--input", files[suffix])
    written = tmp_path / f"{exported[name]['model']}_rows.predictions.csv"
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.splitlines()[0] == str(written)
    probabilities, classes = read_predictions(written)
    expected = np.load(exported[name]["arrays"])["expected"][:40]
    assert np.max(np.abs(probabilities - expected)) <= 1e-6
    assert np.array_equal(classes, (expected > 0.5).astype(int))


def test_predict_overwrite_is_logged(exported, tmp_path):
    files = write_rows("voter", tmp_path, labels=False)
    written = tmp_path / "voter_rows.predictions.csv"
    written.write_text("old predictions\n")

    outcome = run_cli("predict", exported["voter-sequential"]["path"], "--input", files["csv"])

    assert outcome.code == 0, outcome.stderr
    assert outcome.stderr == f"Overwriting {written}\n"
    assert len(read_predictions(written)[0]) == 40


def test_predict_new_file_not_logged(exported, tmp_path):
    files = write_rows("voter", tmp_path, labels=False)

    outcome = run_cli("predict", exported["voter-sequential"]["path"], "--input", files["csv"])

    assert outcome.code == 0, outcome.stderr
    assert outcome.stderr == ""


def test_predict_csv_without_header(exported, tmp_path):
    path = tmp_path / "bits.csv"
    path.write_text("1,1,1,1,1,1,1,1,1\n0,0,0,0,0,0,0,0,0\n")
    outcome = run_cli("predict", exported["voter-sequential"]["path"], "--input", path)
    assert outcome.code == 0, outcome.stderr
    assert len(read_predictions(tmp_path / "bits.predictions.csv")[0]) == 2


def test_predict_npz_output(exported, tmp_path):
    files = write_rows("matcher", tmp_path)
    out = tmp_path / "predicted.npz"
    outcome = run_cli("predict", exported["matcher"]["path"], "--input", files["npz"], "--out", out)
    assert outcome.code == 0, outcome.stderr
    with np.load(out) as arrays:
        assert arrays["probability"].shape == (40,)
        assert np.array_equal(arrays["class"], (arrays["probability"] > 0.5).astype(int))


def test_predict_unknown_out_suffix(exported, tmp_path):
    files = write_rows("voter", tmp_path, labels=False)
    outcome = run_cli("predict", exported["voter-sequential"]["path"], "--input", files["csv"], "--out", tmp_path / "p.txt")
    assert outcome.code == 2
    assert "p.txt" in outcome.stderr


def test_predict_matcher_csv_wrong_columns(exported, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(",".join(["0.5"] * 9) + "\n")
    outcome = run_cli("predict", exported["matcher"]["path"], "--input", path)
    assert outcome.code == 2
    assert "9 columns" in outcome.stderr


def test_predict_csv_nan_value(exported, tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("1,1,1,1,1,1,1,1,1\n0,0,nan,0,0,0,0,0,0\n")
    outcome = run_cli("predict", exported["voter-sequential"]["path"], "--input", path)
    assert outcome.code == 2
    assert "data row 2" in outcome.stderr
    assert "NaN" in outcome.stderr


def test_predict_out_is_input(exported, tmp_path):
    files = write_rows("voter", tmp_path, labels=False)
    before = files["csv"].read_text()
    outcome = run_cli("predict", exported["voter-sequential"]["path"], "--input", files["csv"], "--out", files["csv"])
    assert outcome.code == 2
    assert "input file" in outcome.stderr
    assert files["csv"].read_text() == before
