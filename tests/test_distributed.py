"""Searches over several processes: --workers, --role chief/worker, and a worker killed mid-trial."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvsf_tune import distributed, records, workers
from kvsf_tune.distributed import Role, parse_address, parse_role
from kvsf_tune.errors import UsageError


KVSF_TUNE = str(Path(sys.executable).with_name("kvsf-tune"))
DEADLINE = 150.0


def search_command(space: Path, log_dir: Path, *extra: str) -> list[str]:
    return [
        KVSF_TUNE, "search", "matcher", "--space", str(space), "--max-trials", "3", "--runs", "4",
        "--confirmation-runs", "4", "--target", "0.7", "--required-pass-rate", "0.1", "--logdir", str(log_dir), "--json", *extra,
    ]


def processes_mentioning(text: str) -> list[int]:
    """Return the ids of live processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in command and state != "Z":
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def trained_once(project: Path) -> dict[str, int]:
    """Return, per trial folder, how many times a record was trained (HParams sessions written)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.plugins.hparams import metadata

    counts = {}
    for folder in sorted(project.glob("trial_*")):
        counts[folder.name] = sum(
            value.tag == metadata.SESSION_START_INFO_TAG
            for path in folder.glob("events.out.tfevents.*")
            for event in event_file_loader.EventFileLoader(str(path)).Load()
            for value in event.summary.value
        )
    return counts


def ongoing_trial(project: Path, tuner_id: str) -> str | None:
    """Return the trial id the oracle's saved state gives `tuner_id`, or `None`."""
    try:
        state = json.loads((project / "oracle.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return state.get("ongoing_trials", {}).get(tuner_id)


def start(command: list[str], environment: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a command with its output captured, and extra environment variables if given."""
    environ = {**os.environ, **(environment or {})}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_workers_run_each_trial_once(space, tmp_path):
    log_dir = tmp_path / "logs"

    command = search_command(space, log_dir, "--workers", "2")

    finished = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE)
    result = json.loads(finished.stdout)

    assert finished.returncode in (0, 3), finished.stderr
    assert sorted(trial["trial_id"] for trial in result["trials"]) == ["0", "1", "2"]
    assert trained_once(log_dir / "matcher") == {"trial_0": 1, "trial_1": 1, "trial_2": 1}
    assert "[tuner0]" in finished.stderr
    assert "[tuner1]" in finished.stderr
    assert processes_mentioning(str(log_dir)) == []


def test_killed_worker_is_restarted(space, tmp_path):
    log_dir = tmp_path / "logs"
    process = start(search_command(space, log_dir, "--workers", "2"))
    victim = None
    deadline = time.monotonic() + DEADLINE
    while victim is None and time.monotonic() < deadline:
        # tuner0 is mid-trial once the oracle lists its trial and the trial has written a curve file.
        trial_id = ongoing_trial(log_dir / "matcher", "tuner0")
        curves = (log_dir / "matcher" / f"trial_{trial_id}").glob("events.out.tfevents.*")
        training = trial_id is not None and any(curves)
        candidates = [pid for pid in children(process.pid) if b"tuner0" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        victim = candidates[0] if training and candidates else None
        time.sleep(0.05)
    assert victim is not None, "worker tuner0 never started a trial"
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=DEADLINE)
    result = json.loads(stdout)

    assert process.returncode in (0, 3), stderr
    assert "Worker tuner0 exited with code -9 during trial" in stderr
    assert sorted(trial["trial_id"] for trial in result["trials"]) == ["0", "1", "2"]
    assert all(trial["status"] == "completed" for trial in result["trials"])
    assert set(trained_once(log_dir / "matcher").values()) == {1}
    assert processes_mentioning(str(log_dir)) == []


def test_chief_and_workers_on_roles(space, tmp_path):
    log_dir = tmp_path / "logs"
    address = f"127.0.0.1:{free_port()}"
    chief = start(search_command(space, log_dir, "--role", "chief", "--oracle", address))
    worker = start(search_command(space, log_dir, "--role", "worker", "--oracle", address, "--tuner-id", "w1"))
    host, port = address.split(":")
    # KerasTuner's own variables make a worker too.
    environment = {"KERASTUNER_TUNER_ID": "w2", "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}
    other = start(search_command(space, log_dir), environment=environment)

    chief_out, chief_err = chief.communicate(timeout=DEADLINE)
    worker_out, worker_err = worker.communicate(timeout=DEADLINE)
    other_out, other_err = other.communicate(timeout=DEADLINE)
    result = json.loads(chief_out)

    assert chief.returncode in (0, 3), chief_err
    assert worker.returncode == 0, worker_err
    assert other.returncode == 0, other_err
    assert worker_out == ""
    assert sorted(trial["trial_id"] for trial in result["trials"]) == ["0", "1", "2"]
    assert set(trained_once(log_dir / "matcher").values()) == {1}
    assert "Oracle listening on 127.0.0.1" in chief_err


def test_worker_with_other_options_is_rejected(space, tmp_path):
    log_dir = tmp_path / "logs"
    records.save_search(log_dir / "matcher", {"model": "matcher", "runs": 8})
    address = f"127.0.0.1:{free_port()}"
    chief = subprocess.Popen([sys.executable, "-c", _STUB_ORACLE, address], stdout=subprocess.PIPE, text=True)
    try:
        assert chief.stdout.readline().strip() == "serving"
        finished = subprocess.run(
            search_command(space, log_dir, "--role", "worker", "--oracle", address, "--tuner-id", "w1"),
            capture_output=True, text=True, timeout=DEADLINE,
        )
    finally:
        chief.kill()
        chief.wait()

    assert finished.returncode == 2
    assert "runs=8" in finished.stderr


# A process that serves a real KerasTuner oracle without creating trials, for the option check.
_STUB_ORACLE = """
import sys, time, keras_tuner
from kvsf_tune.distributed import OracleServer, parse_address
oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("x", "max"), max_trials=1)
host, port = parse_address(sys.argv[1])
with OracleServer(oracle, host, port):
    print("serving", flush=True)
    time.sleep(120)
"""


def small_oracle(folder: Path):
    """Return a real KerasTuner oracle of one integer hyperparameter, saving into `folder`."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 4)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("x", "max"), max_trials=2, hyperparameters=hp, seed=1
    )
    oracle._set_project_dir(str(folder), "project")
    return oracle


def test_end_trial_as_failed_frees_the_oracle(tmp_path):
    oracle = small_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")

    distributed.end_trial_as_failed(oracle, trial.trial_id, "worker died")

    assert oracle.ongoing_trials == {}
    assert oracle.get_trial(trial.trial_id).status == "FAILED"
    assert oracle.get_trial(trial.trial_id).message == "worker died"
    assert distributed.has_trials_left(oracle)


def test_pool_fails_trial_after_restarts(space, tmp_path):
    from kvsf_tune.options import search_options

    oracle = small_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    options = search_options("matcher", space=space, log_dir=tmp_path)
    pool = workers.WorkerPool(options, port=1, count=1, max_restarts=0)
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])
    dead.wait()
    pool.workers = [workers._Worker("tuner0", dead)]

    pool._check(oracle)

    assert pool.workers[0].state == "failed"
    assert oracle.get_trial(trial.trial_id).status == "FAILED"
    assert "Worker tuner0 exited with code 9" in oracle.get_trial(trial.trial_id).message
    assert oracle.ongoing_trials == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"workers": 2, "role": "chief"}, "takes no --role"),
        ({"workers": 0}, "at least 1"),
        ({"role": "boss"}, "Invalid --role"),
        ({"role": "worker"}, "needs the oracle's address"),
        ({"role": "worker", "oracle": "10.0.0.5:8000"}, "needs --tuner-id"),
        ({"role": "worker", "oracle": "10.0.0.5:8000", "tuner_id": "mychief"}, "containing 'chief'"),
        ({"role": "worker", "oracle": "10.0.0.5:0", "tuner_id": "w1"}, "from 1 to 65535"),
        ({"role": "chief", "oracle": "10.0.0.5"}, "use HOST:PORT"),
        ({"role": "chief", "oracle": "0.0.0.0:1", "tuner_id": "w1"}, "for workers"),
        ({"oracle": "10.0.0.5:8000"}, "need --role"),
    ],
)
def test_parse_role_rejects(arguments, message):
    with pytest.raises(UsageError, match=message):
        parse_role(environ={}, **arguments)


def test_parse_role_cases():
    environment = {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "10.0.0.5", "KERASTUNER_ORACLE_PORT": "8000"}

    assert parse_role(environ={}) == Role()
    assert parse_role(workers=3, environ={}) == Role("local", workers=3, tuner_id="chief")
    assert parse_role(environ=environment) == Role("chief", host="10.0.0.5", port=8000, tuner_id="chief")
    assert parse_role(environ={**environment, "KERASTUNER_TUNER_ID": "w4"}).tuner_id == "w4"
    assert parse_role(role="worker", oracle="[::1]:9000", tuner_id="w1", environ={}).host == "::1"


def test_parse_address_and_loopback():
    assert parse_address("[::1]:8000") == ("::1", 8000)
    assert distributed.join_address("::1", 8000) == "[::1]:8000"
    assert distributed.is_loopback("localhost")
    assert not distributed.is_loopback("0.0.0.0")


def test_worker_environment_shares_cores(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "3")
    cores = len(os.sched_getaffinity(0))

    environment = workers.worker_environment(2)

    assert environment["TF_NUM_INTRAOP_THREADS"] == str(max(1, cores // 2))
    assert environment["TF_NUM_INTEROP_THREADS"] == "3"


def test_options_json_round_trip(space, tmp_path):
    from kvsf_tune.options import search_options

    options = search_options("matcher", space=space, log_dir=tmp_path, runs=4, max_trials=3, data_seed=7)

    assert workers.options_from_json(json.loads(json.dumps(workers.options_to_json(options)))) == options
