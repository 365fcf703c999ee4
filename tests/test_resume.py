"""Resuming a search: after SIGKILL, after Ctrl-C, with new --max-trials, and from damaged state."""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvsf_tune import records, tuning
from kvsf_tune.errors import LogDirError, UsageError
from kvsf_tune.options import SearchOptions, search_options
from conftest import TINY_INT_SPACE, default_ctrl_c


KVSF_TUNE = str(Path(sys.executable).with_name("kvsf-tune"))
# After one or two epochs some runs sit on the 0.72-0.74 plateau. A target of 0.7 and a required
# pass rate of 0.1 let a 4-run trial with 2 passes be reliable, so the confirmation runs too.
TINY_OPTIONS = ("--runs", "4", "--confirmation-runs", "4", "--target", "0.7", "--required-pass-rate", "0.1")
DEADLINE = 90.0


def search_command(space: Path, log_dir: Path, *extra: str) -> list[str]:
    return [
        KVSF_TUNE, "search", "matcher", "--space", str(space), "--max-trials", "3", *TINY_OPTIONS,
        "--logdir", str(log_dir), *extra,
    ]


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c
    )


def wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while not path.exists():
        assert process.poll() is None, f"the search ended before {path} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear within {DEADLINE} s"
        time.sleep(0.02)


def finished_mtimes(project: Path) -> dict[str, int]:
    records_on_disk = [folder / records.TRIAL_FILE for folder in project.glob("trial_*")]
    return {path.parent.name: path.stat().st_mtime_ns for path in records_on_disk if path.is_file()}


def session_starts(folder: Path) -> int:
    """Count the HParams sessions that TensorBoard would read in a trial's folder."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.plugins.hparams import metadata

    count = 0
    for path in folder.glob("events.out.tfevents.*"):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            count += sum(value.tag == metadata.SESSION_START_INFO_TAG for value in event.summary.value)
    return count


def run_json(command: list[str]) -> tuple[int, dict]:
    finished = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=DEADLINE * 2)
    assert finished.returncode in (0, 3), finished.stderr
    return finished.returncode, json.loads(finished.stdout)


def test_sigkill_mid_trial_resumes_exactly(space, tmp_path):
    log_dir = tmp_path / "logs"
    project = log_dir / "matcher"
    process = start(search_command(space, log_dir))
    wait_for(project / "trial_1" / "trial.json", process)
    time.sleep(0.3)
    process.kill()
    process.communicate()
    before = finished_mtimes(project)

    _, result = run_json(search_command(space, log_dir))
    after = finished_mtimes(project)

    assert len(result["trials"]) == 3
    assert len(after) == 3
    assert before, "no trial had finished before the kill"
    assert {name: after[name] for name in before} == before
    for folder in sorted(project.glob("trial_*")):
        assert session_starts(folder) == 1, folder


def test_sigint_exits_130_with_working_hint(space, tmp_path):
    log_dir = tmp_path / "log dir"
    project = log_dir / "matcher"
    process = start(search_command(space, log_dir, "--json"))
    wait_for(project / "trial_1" / "trial.json", process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=DEADLINE)
    hint = stderr.rsplit("Resume with: ", 1)[-1].strip()
    before = finished_mtimes(project)

    words = shlex.split(hint)
    resumed = subprocess.run([KVSF_TUNE, *words[1:]], capture_output=True, text=True, timeout=DEADLINE * 2)

    assert process.returncode == 130
    assert stdout == ""
    assert words[:3] == ["kvsf-tune", "search", "matcher"]
    assert resumed.returncode in (0, 3), resumed.stderr
    assert [line for line in resumed.stderr.splitlines() if line.startswith("Resuming")] == [
        f"Resuming the search in {project}: {len(before)} of 3 trials finished."
    ]
    assert len(json.loads(resumed.stdout)["trials"]) == 3
    assert {name: finished_mtimes(project)[name] for name in before} == before


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """Run a 2-trial search in this process and return its log dir, to be copied by each test."""
    log_dir = tmp_path_factory.mktemp("finished")
    (log_dir / "space.toml").write_text(TINY_INT_SPACE)
    tuning.run(options(log_dir, max_trials=2))
    return log_dir


def options(log_dir: Path, **changes) -> SearchOptions:
    values = {
        "space": log_dir / "space.toml", "max_trials": 2, "runs": 4, "confirmation_runs": 4, "target": 0.7, "required_pass_rate": 0.1,
    }
    return search_options("matcher", log_dir=log_dir, **{**values, **changes})


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    log_dir = tmp_path / "copy"
    shutil.copytree(finished, log_dir)
    return log_dir


def test_resume_is_logged(copy, caplog):
    with caplog.at_level(logging.INFO, logger="kvsf_tune.resume"):
        tuning.run(options(copy, max_trials=None))

    resumed = [message for message in caplog.messages if message.startswith("Resuming")]
    assert resumed == [f"Resuming the search in {copy / 'matcher'}: 2 of 2 trials finished."]


def test_record_before_oracle_end_is_reused(copy):
    project = copy / "matcher"
    # State of a kill after kvsf-tune wrote trial 1's record but before KerasTuner ended the trial.
    oracle = json.loads((project / "oracle.json").read_text())
    oracle["ongoing_trials"] = {"tuner0": "1"}
    oracle["end_order"].remove("1")
    (project / "oracle.json").write_text(json.dumps(oracle))
    trial = json.loads((project / "trial_1" / "trial.json").read_text())
    (project / "trial_1" / "trial.json").write_text(json.dumps({**trial, "status": "RUNNING"}))
    before = finished_mtimes(project)

    result = tuning.run(options(copy))

    assert finished_mtimes(project) == before
    assert len(result.trials) == 2
    assert json.loads((project / "trial_1" / "trial.json").read_text())["status"] == "COMPLETED"


def test_unlisted_trial_is_created_again(copy):
    project = copy / "matcher"
    # State of a kill after KerasTuner wrote trial 2's trial.json but not yet oracle.json.
    trial = json.loads((project / "trial_1" / "trial.json").read_text())
    (project / "trial_2").mkdir()
    (project / "trial_2" / "trial.json").write_text(json.dumps({**trial, "trial_id": "2", "status": "RUNNING"}))
    before = finished_mtimes(project)

    result = tuning.run(options(copy, max_trials=3))

    assert [summary.trial_id for summary in sorted(result.trials, key=lambda s: s.trial_id)] == ["0", "1", "2"]
    assert {name: finished_mtimes(project)[name] for name in before} == before
    assert (project / "trial_2" / records.TRIAL_FILE).is_file()


def test_confirmation_killed_is_trained_again(copy):
    project = copy / "matcher"
    confirmation = next(project.glob(f"{records.CONFIRMATION_PREFIX}*"))
    (confirmation / records.TRIAL_FILE).unlink()
    before = finished_mtimes(project)

    result = tuning.run(options(copy))

    assert finished_mtimes(project) == before
    assert result.confirmation is not None
    assert (confirmation / records.TRIAL_FILE).is_file()
    assert session_starts(confirmation) == 1


def test_raised_max_trials_runs_more(copy):
    before = finished_mtimes(copy / "matcher")

    result = tuning.run(options(copy, max_trials=3))

    assert len(result.trials) == 3
    assert {name: finished_mtimes(copy / "matcher")[name] for name in before} == before
    assert records.load_search(copy / "matcher")["max_trials"] == 3


def test_omitted_max_trials_keeps_recorded(copy):
    result = tuning.run(options(copy, max_trials=None))

    assert len(result.trials) == 2


def test_lowered_max_trials_is_rejected(copy):
    with pytest.raises(UsageError, match="already started 2 trials"):
        tuning.run(options(copy, max_trials=1))


def test_changed_space_is_rejected(copy):
    (copy / "space.toml").write_text(TINY_INT_SPACE.replace("0.2", "0.3"))

    with pytest.raises(UsageError, match="search space whose content differs"):
        tuning.run(options(copy))


def test_moved_space_is_accepted(copy, tmp_path):
    moved = tmp_path / "elsewhere.toml"
    shutil.move(copy / "space.toml", moved)

    result = tuning.run(options(copy, space=moved))

    assert len(result.trials) == 2


def test_damaged_oracle_file_is_reported(copy):
    (copy / "matcher" / "oracle.json").write_text('{"ongoing_trials": {')

    with pytest.raises(LogDirError, match="oracle.json is damaged"):
        tuning.run(options(copy))


def test_overwrite_starts_over(copy, caplog):
    before = finished_mtimes(copy / "matcher")

    with caplog.at_level(logging.INFO, logger="kvsf_tune.resume"):
        result = tuning.run(options(copy, overwrite=True, max_trials=1))

    assert len(result.trials) == 1
    assert not [message for message in caplog.messages if message.startswith("Resuming")]
    assert finished_mtimes(copy / "matcher")["trial_0"] != before["trial_0"]
