"""Tests of kvsf_tune.tensorboard: a small real search written, read back with TensorBoard's own
loaders, served by a real TensorBoard, and the `tensorboard` command's errors."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kvsf_tune import records, reliability, replicas, tensorboard, tensorboard_report
from kvsf_tune.cli import main
from kvsf_tune.tensorboard_curves import TAGS, epoch_scalars
from conftest import default_ctrl_c, train_setting, trial_record

TARGET = 0.95
RUNS = 4
RESTARTS = 2
EPOCHS = 2

DOMAINS = {
    "optimizer": {"type": "Choice", "values": ["sgd", "adam"]},
    "learning_rate": {"type": "Float", "min_value": 0.01, "max_value": 1.0},
    "batch_size": {"type": "Choice", "values": [32, 64]},
    "epochs": {"type": "Int", "min_value": 1, "max_value": 4},
    "restarts": {"type": "Fixed", "values": [RESTARTS]},
    "momentum": {"type": "Choice", "values": [0, 0.9]},
    "nesterov": {"type": "Boolean", "values": [False, True]},
}

# Seconds a real TensorBoard gets to start and load the event files.
SERVER_TIMEOUT = 60.0


@dataclass(frozen=True)
class TrainedTrial:
    folder: Path
    record: records.TrialRecord
    result: replicas.BankResult
    bank: object


@dataclass(frozen=True)
class FakeSearch:
    log_dir: Path
    project: Path
    trials: dict[str, TrainedTrial]


def train_trial(
    folder: Path,
    model: str,
    hyperparameters: dict,
    *,
    first_seed: int,
    epochs: int = EPOCHS,
    confirmation_of: str | None = None,
    session_name: str | None = None,
    write: bool = True,
) -> TrainedTrial:
    """Train a bank of RUNS x RESTARTS replicas with the curves callback and write the trial."""
    seeds = range(first_seed, first_seed + RUNS * RESTARTS)
    curves = tensorboard.epoch_curves(folder, restarts=RESTARTS, target=TARGET)
    bank, result = train_setting(model, hyperparameters, seeds, shuffle_seed=first_seed, epochs=epochs, callbacks=[curves])
    record = trial_record(
        model, folder.name, hyperparameters, result, shuffle_seed=first_seed, target=TARGET, confirmation_of=confirmation_of
    )
    if write:
        records.save_trial(folder, record)
        tensorboard.write_trial(folder, record, bank, session_name=session_name)
    return TrainedTrial(folder=folder, record=record, result=result, bank=bank)


def build_fake_search(log_dir: Path) -> FakeSearch:
    """Write a voter search: two trials (the second one retried) and the confirmation of the first."""
    project = records.project_dir(log_dir, "voter")
    records.save_search(project, {"model": "voter"})
    tensorboard.write_experiment(project, DOMAINS, target=TARGET)

    adam = {"optimizer": "adam", "learning_rate": 0.05, "batch_size": 64, "epochs": EPOCHS, "restarts": RESTARTS}
    sgd = {**adam, "optimizer": "sgd", "learning_rate": 0.5, "batch_size": 32, "momentum": 0.9, "unlisted": "x"}
    trials = {"trial_00": train_trial(records.trial_dir(project, "00"), "voter", adam, first_seed=0)}

    # An interrupted first attempt of trial 01 leaves one epoch of curves behind.
    retried = records.trial_dir(project, "01")
    train_trial(retried, "voter", sgd, first_seed=100, epochs=1, write=False)
    tensorboard.write_experiment(project, DOMAINS, target=TARGET)
    tensorboard.clear_run(retried)
    trials["trial_01"] = train_trial(retried, "voter", sgd, first_seed=100)

    confirmation = records.confirmation_dir(project, "00")
    trials["confirmation_00"] = train_trial(
        confirmation, "voter", adam, first_seed=1000, confirmation_of="00", session_name="confirmation of trial 00"
    )
    return FakeSearch(log_dir=log_dir, project=project, trials=trials)


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> FakeSearch:
    return build_fake_search(tmp_path_factory.mktemp("logs"))


def accumulate(folder: Path):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def scalar_points(accumulator, tag: str) -> list[tuple[int, float]]:
    from tensorboard.util import tensor_util

    return [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def hparams_data(folder: Path, tag: str) -> list:
    """Return the parsed HParams plugin data of every summary with `tag` in a folder's event files."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    found = []
    for value in tensorboard._summary_values(folder):
        if value.tag == tag:
            found.append(plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content))
    return found


def session_starts(search: FakeSearch) -> list:
    from tensorboard.plugins.hparams import metadata

    starts = []
    for folder in [search.project, *sorted(search.project.iterdir())]:
        if folder.is_dir():
            starts += [plugin.session_start_info for plugin in hparams_data(folder, metadata.SESSION_START_INFO_TAG)]
    return starts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the experiment -------------------------------------------------------------------------------


def test_experiment_written_once(search):
    from tensorboard.plugins.hparams import metadata

    folders = [search.project, *(trial.folder for trial in search.trials.values())]
    experiments = sum(len(hparams_data(folder, metadata.EXPERIMENT_TAG)) for folder in folders)
    assert experiments == 1


def test_experiment_metrics(search):
    experiment = tensorboard.read_experiment(search.project)
    assert tuple(info.name.tag for info in experiment.metric_infos) == tensorboard.METRICS


def test_experiment_metric_display_names(search):
    experiment = tensorboard.read_experiment(search.project)
    assert all(info.display_name for info in experiment.metric_infos)


def test_experiment_discrete_numbers(search):
    infos = {info.name: info for info in tensorboard.read_experiment(search.project).hparam_infos}
    batch_sizes = [value.number_value for value in infos["batch_size"].domain_discrete.values]
    assert batch_sizes == [32.0, 64.0]


def test_experiment_mixed_numbers_stay_numbers(search):
    infos = {info.name: info for info in tensorboard.read_experiment(search.project).hparam_infos}
    kinds = {value.WhichOneof("kind") for value in infos["momentum"].domain_discrete.values}
    assert kinds == {"number_value"}


@pytest.mark.parametrize(
    ("name", "kind"),
    [("optimizer", "string_value"), ("nesterov", "bool_value"), ("restarts", "number_value"), ("session", "string_value")],
)
def test_experiment_discrete_kinds(search, name, kind):
    infos = {info.name: info for info in tensorboard.read_experiment(search.project).hparam_infos}
    kinds = {value.WhichOneof("kind") for value in infos[name].domain_discrete.values}
    assert kinds == {kind}


@pytest.mark.parametrize(("name", "low", "high"), [("learning_rate", 0.01, 1.0), ("epochs", 1.0, 4.0)])
def test_experiment_intervals(search, name, low, high):
    infos = {info.name: info for info in tensorboard.read_experiment(search.project).hparam_infos}
    interval = infos[name].domain_interval
    assert (interval.min_value, interval.max_value) == (low, high)


def test_experiment_replaces_half_written_file(tmp_path):
    leftover = tmp_path / "events.out.tfevents.0.interrupted"
    leftover.write_bytes(b"")
    tensorboard.write_experiment(tmp_path, DOMAINS, target=TARGET)
    assert not leftover.exists()


def test_experiment_written_after_half_written_file(tmp_path):
    (tmp_path / "events.out.tfevents.0.interrupted").write_bytes(b"")
    tensorboard.write_experiment(tmp_path, DOMAINS, target=TARGET)
    assert tensorboard.read_experiment(tmp_path) is not None


def test_experiment_rejects_session_name(tmp_path):
    with pytest.raises(ValueError, match="session"):
        tensorboard.write_experiment(tmp_path, {"session": {"type": "Fixed", "values": [1]}}, target=TARGET)


# --- sessions and metrics -------------------------------------------------------------------------


def test_sessions_one_per_trial(search):
    assert len(session_starts(search)) == len(search.trials)


def test_sessions_group_names(search):
    names = {start.group_name for start in session_starts(search)}
    assert names == {"voter/trial_00", "voter/trial_01", "voter/confirmation of trial 00"}


def test_session_hparams_are_numbers(search):
    from tensorboard.plugins.hparams import metadata

    start = hparams_data(search.trials["trial_01"].folder, metadata.SESSION_START_INFO_TAG)[0].session_start_info
    kinds = {name: start.hparams[name].WhichOneof("kind") for name in ("learning_rate", "batch_size", "momentum")}
    assert set(kinds.values()) == {"number_value"}


def test_session_hparams_values(search):
    from tensorboard.plugins.hparams import metadata

    start = hparams_data(search.trials["trial_01"].folder, metadata.SESSION_START_INFO_TAG)[0].session_start_info
    assert start.hparams["learning_rate"].number_value == 0.5


def test_session_hparams_declared_only(search):
    from tensorboard.plugins.hparams import metadata

    start = hparams_data(search.trials["trial_01"].folder, metadata.SESSION_START_INFO_TAG)[0].session_start_info
    assert "unlisted" not in start.hparams


@pytest.mark.parametrize(("trial", "kind"), [("trial_00", "trial"), ("confirmation_00", "confirmation")])
def test_session_kind(search, trial, kind):
    from tensorboard.plugins.hparams import metadata

    start = hparams_data(search.trials[trial].folder, metadata.SESSION_START_INFO_TAG)[0].session_start_info
    assert start.hparams["session"].string_value == kind


def test_session_end_status(search):
    from tensorboard.plugins.hparams import api_pb2, metadata

    end = hparams_data(search.trials["trial_00"].folder, metadata.SESSION_END_INFO_TAG)[0].session_end_info
    assert end.status == api_pb2.STATUS_SUCCESS


@pytest.mark.parametrize("tag", tensorboard.METRICS)
def test_session_metrics(search, tag):
    trial = search.trials["trial_00"]
    summary = trial.record.summary
    expected = {
        "pass_rate_lower_bound": summary.pass_rate_lower_bound,
        "pass_rate": summary.pass_rate,
        "val_accuracy_mean": summary.val_accuracy["mean"],
        "val_accuracy_min": summary.val_accuracy["min"],
        "fit_seconds": summary.fit_seconds,
    }[tag]
    points = scalar_points(accumulate(trial.folder), tag)
    assert points == [(0, pytest.approx(expected, abs=1e-6))]


def test_session_explicit_hparams(tmp_path, search):
    from tensorboard.plugins.hparams import metadata

    trial = search.trials["trial_00"]
    folder = tmp_path / "voter" / "trial_00"
    tensorboard.write_trial(folder, trial.record, trial.bank, hparams={"learning_rate": np.float32(0.25)})
    start = hparams_data(folder, metadata.SESSION_START_INFO_TAG)[0].session_start_info
    assert start.hparams["learning_rate"].number_value == 0.25


# --- curves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", TAGS)
def test_curves_one_point_per_epoch(search, tag):
    points = scalar_points(accumulate(search.trials["trial_01"].folder), tag)
    assert [step for step, _ in points] == list(range(1, EPOCHS + 1))


def test_curves_mean_within_range(search):
    accumulator = accumulate(search.trials["trial_00"].folder)
    means = scalar_points(accumulator, "epoch/val_accuracy_mean")
    lows = scalar_points(accumulator, "epoch/val_accuracy_min")
    highs = scalar_points(accumulator, "epoch/val_accuracy_max")
    for (_, mean), (_, low), (_, high) in zip(means, lows, highs):
        assert low <= mean <= high


def test_curves_follow_lowest_loss(search):
    trial = search.trials["trial_00"]
    history = trial.result.history
    chosen = reliability.choose_restarts(history.loss[-1], RESTARTS)
    points = scalar_points(accumulate(trial.folder), "epoch/val_accuracy_mean")
    assert points[-1][1] == pytest.approx(history.val_accuracy[-1][chosen].mean(), abs=1e-6)


def test_epoch_scalars_ignore_val_accuracy():
    replicas_of_epoch = {"loss": np.array([0.1, 0.5, 0.4, 0.2]), "val_accuracy": np.array([0.5, 0.99, 0.96, 0.7])}
    scalars = epoch_scalars(replicas_of_epoch, restarts=2, target=0.95)
    assert scalars["epoch/val_accuracy_max"] == 0.7


def test_epoch_scalars_pass_fraction():
    replicas_of_epoch = {"loss": np.array([0.1, 0.5, 0.4, 0.2]), "val_accuracy": np.array([0.96, 0.5, 0.5, 0.95])}
    scalars = epoch_scalars(replicas_of_epoch, restarts=2, target=0.95)
    assert scalars["epoch/pass_fraction"] == 1.0


# --- weights and accuracies -----------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "size"), [("weights/vote/kernel", RUNS * 9), ("weights/vote/bias", RUNS)])
def test_weight_histograms(search, tag, size):
    from tensorboard.util import tensor_util

    events = accumulate(search.trials["trial_00"].folder).Tensors(tag)
    buckets = tensor_util.make_ndarray(events[0].tensor_proto)
    assert buckets[:, 2].sum() == size


def test_voter_table_threshold(search):
    from tensorboard.util import tensor_util

    trial = search.trials["trial_00"]
    run = min(trial.record.runs, key=lambda run: run.train_loss)
    kernel, bias = trial.bank.replica_weights(run.replica)
    events = accumulate(trial.folder).Tensors("weights/representative_run")
    text = tensor_util.make_ndarray(events[0].tensor_proto).item().decode()
    if (kernel > 0).all():
        assert f"{-bias[0] / kernel.mean():.3f} ones" in text
    else:
        assert "Not all 9 weights are positive" in text


def test_voter_table_names_run(search):
    trial = search.trials["trial_00"]
    run = min(trial.record.runs, key=lambda run: run.train_loss)
    text = tensorboard_report.representative_table(trial.record, trial.bank)
    assert text.startswith(f"**Representative run {run.run}**")


@pytest.fixture(scope="module")
def matcher_trial(tmp_path_factory) -> TrainedTrial:
    hyperparameters = {"optimizer": "adam", "learning_rate": 0.05, "batch_size": 64, "epochs": 1, "restarts": RESTARTS}
    folder = tmp_path_factory.mktemp("logs") / "matcher" / "trial_00"
    return train_trial(folder, "matcher", hyperparameters, first_seed=0)


def test_matcher_table(matcher_trial):
    trial = matcher_trial
    run = tensorboard_report.representative_run(trial.record.runs)
    shared = trial.bank.replica_weights(run.replica)[0][:, 0].astype("float64")
    text = tensorboard_report.representative_table(trial.record, trial.bank)
    assert f"Coefficient of variation of the 5 weights: {shared.std() / abs(shared.mean()):.3f}" in text


def test_matcher_sign_pattern(matcher_trial):
    text = tensorboard_report.representative_table(matcher_trial.record, matcher_trial.bank)
    assert "Sign pattern by row: (" in text


def test_matcher_histograms(matcher_trial):
    tags = set(accumulate(matcher_trial.folder).Tags()["tensors"])
    expected = {f"weights/{layer}/{kind}" for layer in ("shared", "hidden", "match") for kind in ("kernel", "bias")}
    assert expected <= tags


def test_accuracy_histogram(search):
    from tensorboard.util import tensor_util

    events = accumulate(search.trials["trial_00"].folder).Tensors("runs/val_accuracy")
    assert tensor_util.make_ndarray(events[0].tensor_proto)[:, 2].sum() == RUNS


def test_accuracy_image_is_png(search):
    from tensorboard.util import tensor_util

    events = accumulate(search.trials["trial_00"].folder).Tensors("runs/val_accuracy_chart")
    width, height, png = tensor_util.make_ndarray(events[0].tensor_proto)
    assert png.startswith(b"\x89PNG")


def test_accuracy_chart_bar_heights():
    chart = tensorboard_report.accuracy_chart(np.array([0.6, 0.97, 0.97]), target=0.95)
    bars = (chart.image == tensorboard_report.AT_TARGET).all(axis=2).sum(axis=0)
    grey = (chart.image == tensorboard_report.BELOW_TARGET).all(axis=2).sum(axis=0)
    assert bars.max() == 2 * grey.max()


def test_accuracy_chart_target_line():
    chart = tensorboard_report.accuracy_chart(np.array([0.6, 0.97]), target=0.95)
    red_columns = (chart.image == tensorboard_report.TARGET_LINE).all(axis=2).any(axis=0)
    assert red_columns.sum() == 2


# --- retries --------------------------------------------------------------------------------------


def test_clear_run_removes_event_files(tmp_path, search):
    trial = search.trials["trial_00"]
    folder = tmp_path / "trial_00"
    tensorboard.write_trial(folder, trial.record, trial.bank)
    tensorboard.clear_run(folder)
    assert list(folder.glob("events.out.tfevents.*")) == []


@pytest.mark.parametrize(("count", "logged"), [(1, "Removed 1 TensorBoard event file left"), (2, "Removed 2 TensorBoard event files left")])
def test_clear_run_logs_count(tmp_path, caplog, count, logged):
    for number in range(count):
        (tmp_path / f"events.out.tfevents.{number}").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="kvsf_tune.tensorboard"):
        tensorboard.clear_run(tmp_path)
    assert caplog.messages == [f"{logged} in {tmp_path} by an earlier attempt."]


def test_clear_run_keeps_other_files(tmp_path, search):
    trial = search.trials["trial_00"]
    records.save_trial(tmp_path, trial.record)
    tensorboard.write_trial(tmp_path, trial.record, trial.bank)
    tensorboard.clear_run(tmp_path)
    assert (tmp_path / records.TRIAL_FILE).is_file()


# --- a real TensorBoard ---------------------------------------------------------------------------


def http_json(url: str, body: dict | None = None):
    payload = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for_runs(base: str, expected: set[str], process: subprocess.Popen) -> list[str]:
    deadline = time.monotonic() + SERVER_TIMEOUT
    runs: list[str] = []
    while time.monotonic() < deadline and process.poll() is None:
        try:
            runs = http_json(base + "data/runs")
        except OSError:
            runs = []
        if expected <= set(runs):
            return runs
        time.sleep(0.5)
    return runs


SESSION_GROUPS_REQUEST = {
    "experimentName": "",
    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    "colParams": [],
    "startIndex": 0,
    "sliceSize": 100,
}


def test_cli_serves_search(search, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    argv = [sys.executable, "-m", "kvsf_tune.cli", "tensorboard", "--logdir", str(search.log_dir), "--port", str(port)]
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(
            argv, stdout=stdout, stderr=stderr, start_new_session=True, preexec_fn=default_ctrl_c
        )
    try:
        runs = wait_for_runs(base, {"voter/trial_00", "voter/trial_01", "voter/confirmation_00"}, process)
        groups = http_json(base + "data/plugin/hparams/session_groups", SESSION_GROUPS_REQUEST)
        os.kill(process.pid, signal.SIGINT)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    assert {"voter/trial_00", "voter/trial_01", "voter/confirmation_00"} <= set(runs)
    names = {group["name"] for group in groups["sessionGroups"]}
    assert names == {"voter/trial_00", "voter/trial_01", "voter/confirmation of trial 00"}
    assert code == 0
    assert base in (tmp_path / "stdout").read_text()
    assert "absl::InitializeLog" not in (tmp_path / "stderr").read_text()


# --- the `tensorboard` command --------------------------------------------------------------------


def test_command_argv():
    argv = tensorboard.tensorboard_command(Path("logs"), port=6007, host="127.0.0.1")
    assert argv[1:] == ["-m", "tensorboard.main", "--logdir", "logs", "--port", "6007", "--host", "127.0.0.1"]


def test_cli_port_in_use(tmp_path, capsys):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = main(["tensorboard", "--logdir", str(tmp_path), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("port", ["0", "65536"])
def test_cli_port_out_of_range(tmp_path, capsys, port):
    code = main(["tensorboard", "--logdir", str(tmp_path), "--port", port])
    err = capsys.readouterr().err
    assert code == 2
    assert f"Invalid --port {port}" in err
    assert err.count("\n") == 1


def test_cli_missing_logdir(tmp_path, capsys):
    missing = tmp_path / "missing"
    code = main(["tensorboard", "--logdir", str(missing), "--port", str(free_port())])
    err = capsys.readouterr().err
    assert code == 2
    assert f"Log dir {missing} does not exist" in err
    assert "Traceback" not in err


def test_cli_logdir_is_file(tmp_path, capsys):
    path = tmp_path / "file.txt"
    path.write_text("x")
    code = main(["tensorboard", "--logdir", str(path), "--port", str(free_port())])
    assert code == 2
    assert f"Log dir {path} is a file" in capsys.readouterr().err


# A stand-in for TensorBoard: it creates the file named by its argument once it is ready, then
# writes a line on stderr when SIGTERM arrives.
STAND_IN_SERVER = """
import pathlib, signal, sys, time

def stop(signum, frame):
    print("closing", file=sys.stderr)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
"""


class InterruptedPopen(subprocess.Popen):
    """A `Popen` whose first `wait` raises `KeyboardInterrupt` once the child is ready, like Ctrl-C."""

    ready: Path

    def wait(self, timeout=None):
        if not getattr(self, "interrupted", False):
            self.interrupted = True
            deadline = time.monotonic() + 30
            while not self.ready.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            raise KeyboardInterrupt
        return super().wait(timeout)


def stop_stand_in(tmp_path, monkeypatch, capsys) -> str:
    """Run the `tensorboard` command on the stand-in server, interrupt it, and return its stderr."""
    InterruptedPopen.ready = tmp_path / "ready"
    argv = [sys.executable, "-c", STAND_IN_SERVER, str(InterruptedPopen.ready)]
    monkeypatch.setattr("kvsf_tune.tensorboard_server.tensorboard_command", lambda *args, **kwargs: argv)
    monkeypatch.setattr("kvsf_tune.tensorboard_server.subprocess.Popen", InterruptedPopen)

    code = main(["tensorboard", "--logdir", str(tmp_path), "--port", str(free_port())])

    assert code == 0
    return capsys.readouterr().err


def test_cli_stop_notice_in_file(tmp_path, monkeypatch, capsys):
    err = stop_stand_in(tmp_path, monkeypatch, capsys)

    assert err.endswith("closing\nStopped TensorBoard.\n")


def test_cli_stop_notice_after_echoed_ctrl_c(tmp_path, monkeypatch, capsys):
    # On a terminal the `^C` echo ends no line, so the notice must start one.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    err = stop_stand_in(tmp_path, monkeypatch, capsys)

    assert err.endswith("closing\n\nStopped TensorBoard.\n")


def test_cli_help_without_tensorflow():
    code = "import sys; from kvsf_tune.cli import main; main(['tensorboard', '--help']); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("False")


def test_module_import_without_tensorflow():
    code = "import sys, kvsf_tune.tensorboard; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_loopback_addresses():
    addresses = socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
    assert tensorboard.is_loopback(addresses)


def test_non_loopback_addresses():
    addresses = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("0.0.0.0", 80))]
    assert not tensorboard.is_loopback(addresses)


def test_several_searches_warning(tmp_path, caplog):
    for project in ("matcher", "voter"):
        records.save_search(tmp_path / project, {"model": project})
    with caplog.at_level(logging.WARNING, logger="kvsf_tune.tensorboard_server"):
        tensorboard.check_server_options(tmp_path, port=free_port(), host="127.0.0.1")
    assert "contains 2 searches (matcher, voter)" in caplog.text


def test_server_url_ipv6():
    assert tensorboard.server_url("::1", 6006) == "http://[::1]:6006/"
