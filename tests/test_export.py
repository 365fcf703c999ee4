"""Tests of kvsf_tune.export and the `export` command.

The `export_search` and `exported` fixtures of conftest.py train two tiny banks and export them.
Here the exported files are also opened in a separate Python process that cannot import kvsf_tune,
the way a user without the package would open them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import keras
import pytest
import tensorflow as tf
from conftest import DATA_SEED, INPUT_KEYS, REQUIRED_PASS_RATE, RUNS, SETTING, SHUFFLE_SEED, run_cli


STANDALONE_SCRIPT = r"""
import json
import sys
from pathlib import Path


class BlockKvsfTune:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "kvsf_tune":
            raise ImportError("kvsf_tune must not be imported here")
        return None


sys.meta_path.insert(0, BlockKvsfTune())
sys.path[:] = [entry for entry in sys.path if not Path(entry or ".", "kvsf_tune").is_dir()]

import keras
import numpy as np
import tensorflow as tf

results = {}
for name, case in json.loads(sys.argv[1]).items():
    arrays = np.load(case["arrays"])
    inputs = [arrays[key] for key in case["inputs"]]
    features = inputs[0] if len(inputs) == 1 else inputs
    if case["format"] == "keras":
        model = keras.models.load_model(case["path"])
        parameters = model.count_params()
        probabilities = model.predict(features, verbose=0).reshape(-1)
    else:
        loaded = tf.saved_model.load(case["path"])
        parameters = sum(int(np.prod(variable.shape)) for variable in loaded.trainable_variables)
        probabilities = loaded.serve(features).numpy().reshape(-1)
    results[name] = {
        "parameters": int(parameters),
        "accuracy": float(np.mean((probabilities > 0.5) == (arrays["y"] > 0.5))),
        "max_difference": float(np.max(np.abs(probabilities - arrays["expected"]))),
    }
results["kvsf_tune_imported"] = "kvsf_tune" in sys.modules
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def standalone(exported, tmp_path_factory):
    """Open every exported file in a Python process that cannot import kvsf_tune."""
    cases = {
        name: {"path": str(case["path"]), "format": case["format"], "arrays": str(case["arrays"]), "inputs": INPUT_KEYS[case["model"]]}
        for name, case in exported.items()
    }
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    completed = subprocess.run(
        [sys.executable, "-c", STANDALONE_SCRIPT, json.dumps(cases)],
        capture_output=True,
        text=True,
        cwd=tmp_path_factory.mktemp("standalone"),
        env=environment,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the exported files, opened without kvsf_tune --------------------------------------------------

CASES = ["voter-sequential", "voter-functional", "matcher", "voter-savedmodel", "matcher-savedmodel"]


def test_standalone_never_imports_package(standalone):
    assert standalone["kvsf_tune_imported"] is False


@pytest.mark.parametrize("name", CASES)
def test_standalone_parameter_count(standalone, exported, name):
    expected = {"voter": 10, "matcher": 15}[exported[name]["model"]]
    assert standalone[name]["parameters"] == expected


@pytest.mark.parametrize("name", CASES)
def test_standalone_accuracy_matches_card(standalone, exported, name):
    assert abs(standalone[name]["accuracy"] - exported[name]["card"]["val_accuracy"]) <= 1e-6


@pytest.mark.parametrize("name", CASES)
def test_standalone_predictions_match_memory(standalone, name):
    assert standalone[name]["max_difference"] <= 1e-6


# --- export and its model card --------------------------------------------------------------------


def test_export_prints_path_and_summary(exported):
    lines = exported["matcher"]["stdout"].splitlines()
    assert lines[0] == str(exported["matcher"]["path"])
    assert "trial 00" in lines[1]


def test_export_summary_only_on_stdout(export_search, tmp_path):
    # stdout has the path and the summary line, so the log on stderr must not repeat them.
    log_dir, _ = export_search
    out = tmp_path / "voter.keras"

    outcome = run_cli("export", "voter", "--logdir", log_dir, "--out", out)

    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.splitlines()[0] == str(out)
    assert str(out) not in outcome.stderr


def test_export_card_run_has_lowest_train_loss(exported, export_search):
    _, trials = export_search
    card = exported["matcher"]["card"]
    best = min(trials["matcher"].runs, key=lambda run: run.train_loss)
    assert card["run"] == best.run
    assert card["run_seed"] == best.seed
    assert card["train_loss"] == best.train_loss
    assert card["val_accuracy"] == best.val_accuracy


def test_export_card_trial_and_confirmation(exported, export_search):
    _, trials = export_search
    card = exported["voter-sequential"]["card"]
    summary = trials["voter"].summary
    assert card["trial_id"] == "00"
    assert card["trial"]["passes"] == summary.passes
    assert card["trial"]["pass_rate_lower_bound"] == summary.pass_rate_lower_bound
    assert card["confirmation"]["runs"] == RUNS
    assert card["confirmation"]["reliable"] is True


def test_export_card_settings_and_seeds(exported):
    card = exported["voter-functional"]["card"]
    assert card["setting"] == SETTING
    assert card["shuffle_seed"] == SHUFFLE_SEED
    assert card["data_seed"] == DATA_SEED
    assert card["target"] == 0.5
    assert card["required_pass_rate"] == REQUIRED_PASS_RATE


def test_export_card_format_and_api(exported):
    assert exported["voter-functional"]["card"]["api"] == "functional"
    assert exported["matcher"]["card"]["api"] == "functional"
    assert exported["matcher-savedmodel"]["card"]["format"] == "savedmodel"
    assert exported["matcher-savedmodel"]["card"]["parameter_count"] == 15


@pytest.mark.parametrize("name", ["voter-sequential", "matcher"])
def test_export_optimizer_matches_setting(exported, name):
    optimizer = keras.models.load_model(exported[name]["path"]).optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert abs(float(optimizer.learning_rate) - SETTING["learning_rate"]) <= 1e-6


@pytest.mark.parametrize(("name", "inputs"), [("voter-savedmodel", ["bits"]), ("matcher-savedmodel", ["s1", "s2"])])
def test_export_savedmodel_input_names(exported, name, inputs):
    signature = tf.saved_model.load(str(exported[name]["path"])).signatures["serving_default"]
    _, named_inputs = signature.structured_input_signature
    assert sorted(named_inputs) == inputs


def test_export_card_versions_and_time(exported):
    card = exported["voter-sequential"]["card"]
    assert set(card["versions"]) == {"tensorflow", "keras", "keras_tuner", "numpy", "kvsf_tune"}
    assert card["versions"]["keras"].startswith("3.")
    assert datetime.fromisoformat(card["created"]).utcoffset().total_seconds() == 0


def test_export_default_out_and_card(export_search):
    log_dir, _ = export_search
    outcome = run_cli("export", "voter", "--logdir", log_dir)
    expected = log_dir / "voter" / "export" / "voter_trial_00.keras"
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.splitlines()[0] == str(expected)
    assert expected.is_file()
    assert (expected.parent / "voter_trial_00.card.json").is_file()


def test_export_default_savedmodel_folder(export_search):
    log_dir, _ = export_search
    outcome = run_cli("export", "matcher", "--logdir", log_dir, "--format", "savedmodel")
    expected = log_dir / "matcher" / "export" / "matcher_trial_00_savedmodel"
    assert outcome.code == 0, outcome.stderr
    assert (expected / "saved_model.pb").is_file()
    assert (expected.parent / "matcher_trial_00_savedmodel.card.json").is_file()


def test_export_unreliable_allowed_by_flag(export_search, tmp_path):
    log_dir, _ = export_search
    out = tmp_path / "unreliable.keras"
    outcome = run_cli("export", "voter", "--logdir", log_dir, "--trial", "01", "--allow-unreliable", "--out", out)
    assert outcome.code == 0, outcome.stderr
    assert json.loads((tmp_path / "unreliable.card.json").read_text())["trial_id"] == "01"


def test_export_trial_id_without_padding(export_search, tmp_path):
    log_dir, _ = export_search
    out = tmp_path / "unpadded.keras"

    outcome = run_cli("export", "voter", "--logdir", log_dir, "--trial", "1", "--allow-unreliable", "--out", out)

    assert outcome.code == 0, outcome.stderr
    assert json.loads((tmp_path / "unpadded.card.json").read_text())["trial_id"] == "01"


def test_export_unconfirmed_best_by_flag(export_search, tmp_path):
    log_dir, _ = export_search
    out = tmp_path / "best.keras"
    outcome = run_cli("export", "voter", "--logdir", log_dir, "--project", "unconfirmed", "--allow-unreliable", "--out", out)
    assert outcome.code == 0, outcome.stderr
    assert json.loads((tmp_path / "best.card.json").read_text())["trial_id"] == "00"


def test_export_reliable_trial_of_stopped_search(export_search, tmp_path):
    # The refusal for an unfinished search offers --trial alone for a trial that was reliable in the search.
    log_dir, _ = export_search
    out = tmp_path / "stopped.keras"

    outcome = run_cli("export", "voter", "--logdir", log_dir, "--project", "stopped", "--trial", "00", "--out", out)

    assert outcome.code == 0, outcome.stderr
    assert out.is_file()


# --- rejections ---------------------------------------------------------------------------------------

REJECTIONS = {
    "no-search": (["--project", "missing"], "missing"),
    "no-logdir": (["--logdir", "{tmp}/nowhere"], "nowhere"),
    "no-completed-trial": (["--project", "empty"], "No completed trial"),
    "only-failed-trials": (["--project", "all_failed"], "No completed trial"),
    "unknown-trial": (["--trial", "07"], "'07' not found"),
    "unknown-trial-lists-ids": (["--trial", "07"], "00, 01, 02"),
    "unreliable-trial": (["--trial", "01"], "Trial 01 is not reliable"),
    "failed-trial": (["--trial", "02"], "Trial 02 failed"),
    "failed-trial-allowed": (["--trial", "02", "--allow-unreliable"], "not even with --allow-unreliable"),
    "failed-confirmation": (["--project", "unconfirmed"], "confirmation of trial 00"),
    "unfinished-search": (["--project", "stopped"], "has not finished"),
    "unfinished-search-hint": (["--project", "stopped"], "Pass --trial ID to export a trial that was reliable"),
    "failed-confirmation-trial": (["--project", "unconfirmed", "--trial", "00"], "failed its confirmation"),
    "keras-out-suffix": (["--out", "{tmp}/model.h5"], "model.h5"),
    "savedmodel-out-suffix": (["--format", "savedmodel", "--out", "{tmp}/model.keras"], "model.keras"),
    "unknown-format": (["--format", "onnx"], "'onnx'"),
    "unknown-api": (["--api", "subclassed"], "'subclassed'"),
    "unknown-model": ([], "Unknown model 'linear': use one of: voter, matcher."),
}


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_export_rejected(export_search, tmp_path, case):
    log_dir, _ = export_search
    options, named = REJECTIONS[case]
    model = "linear" if case == "unknown-model" else "voter"
    options = [option.replace("{tmp}", str(tmp_path)) for option in options]
    if "--logdir" not in options:
        options = ["--logdir", str(log_dir), *options]
    outcome = run_cli("export", model, *options)
    assert outcome.code == 2
    assert named in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""


def test_export_logdir_is_file(tmp_path):
    log_dir = tmp_path / "logs.txt"
    log_dir.write_text("not a folder")

    outcome = run_cli("export", "voter", "--logdir", log_dir)

    assert outcome.code == 2
    assert outcome.stderr == f"Error: Log dir {log_dir} is a file, not a folder. Pass the folder of a search with --logdir.\n"
    assert outcome.stdout == ""


def test_export_rejection_writes_nothing(export_search, tmp_path):
    log_dir, _ = export_search
    run_cli("export", "voter", "--logdir", log_dir, "--trial", "01", "--out", tmp_path / "rejected.keras")
    assert list(tmp_path.iterdir()) == []


# --- start-up -----------------------------------------------------------------------------------------


def test_command_help_skips_tensorflow():
    script = (
        "import sys\nfrom kvsf_tune.cli import main\n"
        "for command in ('export', 'evaluate', 'predict'):\n    main([command, '--help'])\n"
        "print('tensorflow' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip().splitlines()[-1] == "False"
