"""Tests of the command line's handling of bad input, `check-space` and `--help`, without training.

Every bad search-space file and every bad option must give exit code 2 and one line on stderr that
names the value, print no traceback, and write nothing. Most tests invoke the Typer app with
`CliRunner`. The subprocess tests run the installed `kvsf-tune` script and check that help and
rejected input never import TensorFlow.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kvsf_tune.cli import app
from kvsf_tune.errors import EXIT_USAGE
from kvsf_tune.search_space import REQUIRED

KVSF_TUNE = Path(sys.executable).with_name("kvsf-tune")
COMMANDS = sorted(typer.main.get_command(app).commands)

# A valid space whose grid has 2 x 2 x 2 = 8 settings. Tests replace one table at a time, and
# None removes a table.
BASE_TABLES = {
    "optimizer": 'type = "Choice"\nvalues = ["adam", "rmsprop"]',
    "learning_rate": 'type = "Choice"\nvalues = [0.05, 0.1]',
    "batch_size": 'type = "Fixed"\nvalue = 64',
    "epochs": 'type = "Fixed"\nvalue = 1',
    "restarts": 'type = "Choice"\nvalues = [1, 2]',
}
BASE_GRID_SIZE = 8

# (case, tables replaced, fragments the message must contain besides the file name).
BAD_SPACES = [
    ("unknown_hyperparameter", {"dropout": 'type = "Fixed"\nvalue = 0.5'}, ["[dropout]", "unknown hyperparameter"]),
    ("unknown_key", {"epochs": 'type = "Fixed"\nvalue = 1\ncolour = "red"'}, ["[epochs]", "colour", '"red"']),
    ("unknown_type", {"epochs": 'type = "Integer"\nvalue = 1'}, ["[epochs]", "type", '"Integer"']),
    ("unknown_optimizer", {"optimizer": 'type = "Choice"\nvalues = ["sgd", "nadam"]'}, ["[optimizer]", '"nadam"']),
    (
        "min_above_max",
        {"learning_rate": 'type = "Float"\nmin_value = 0.3\nmax_value = 0.1'},
        ["[learning_rate]", "min_value 0.3", "max_value 0.1"],
    ),
    ("step_zero", {"epochs": 'type = "Int"\nmin_value = 1\nmax_value = 4\nstep = 0'}, ["[epochs]", "step 0"]),
    ("step_above_range", {"epochs": 'type = "Int"\nmin_value = 1\nmax_value = 4\nstep = 10'}, ["[epochs]", "step 10"]),
    (
        "log_sampling_from_zero",
        {"learning_rate": 'type = "Float"\nmin_value = 0.0\nmax_value = 0.1\nsampling = "log"'},
        ["[learning_rate]", '"log"', "min_value", "0.0"],
    ),
    ("batch_size_zero", {"batch_size": 'type = "Fixed"\nvalue = 0'}, ["[batch_size]", "value 0", "positive integer"]),
    ("batch_size_fraction", {"batch_size": 'type = "Fixed"\nvalue = 32.5'}, ["[batch_size]", "32.5"]),
    ("epochs_negative", {"epochs": 'type = "Choice"\nvalues = [1, -2]'}, ["[epochs]", "-2", "positive integer"]),
    ("empty_choice", {"restarts": 'type = "Choice"\nvalues = []'}, ["[restarts]", "values []"]),
    ("duplicated_choice", {"restarts": 'type = "Choice"\nvalues = [2, 2]'}, ["[restarts]", "[2, 2]"]),
    ("string_learning_rate", {"learning_rate": 'type = "Fixed"\nvalue = "fast"'}, ["[learning_rate]", '"fast"']),
    ("mixed_choice_types", {"learning_rate": 'type = "Choice"\nvalues = [0.1, 1]'}, ["[learning_rate]", "[0.1, 1]"]),
    ("required_missing", {"restarts": None}, ["[restarts]", "missing"]),
]

# (case, extra search options, fragments the message must contain).
BAD_OPTIONS = [
    ("target_zero", ["--target", "0"], ["--target", "0.0"]),
    ("target_above_one", ["--target", "1.5"], ["--target", "1.5"]),
    ("pass_rate_zero", ["--required-pass-rate", "0"], ["--required-pass-rate", "0.0"]),
    ("pass_rate_above_one", ["--required-pass-rate", "1.01"], ["--required-pass-rate", "1.01"]),
    ("runs_zero", ["--runs", "0"], ["--runs", "0"]),
    ("max_trials_zero", ["--max-trials", "0"], ["--max-trials", "0"]),
    ("confirmation_runs_zero", ["--confirmation-runs", "0"], ["--confirmation-runs", "0"]),
    ("unknown_tuner", ["--tuner", "genetic"], ["--tuner", "'genetic'"]),
    ("negative_seed", ["--seed", "-1"], ["--seed", "-1"]),
]


def write_space(folder: Path, name: str = "space.toml", **tables: str | None) -> Path:
    body = {**BASE_TABLES, **tables}
    text = "\n".join(f"[{key}]\n{table}\n" for key, table in body.items() if table is not None)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def check_file(via: str, path: Path, log_dir: Path):
    """Invoke `check-space FILE` or `search matcher --space FILE`."""
    if via == "check-space":
        return invoke("check-space", path)
    return invoke("search", "matcher", "--space", path, "--logdir", log_dir)


def assert_usage_error(result, *fragments: str) -> None:
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr


def clean_environment() -> dict[str, str]:
    # Without these variables the CLI itself must keep TensorFlow quiet.
    return {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL")}


def run_script(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KVSF_TUNE), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=clean_environment()
    )


# check-space and search --space on bad files.


@pytest.mark.parametrize("case, tables, fragments", BAD_SPACES, ids=[case[0] for case in BAD_SPACES])
def test_check_space_bad_file(tmp_path, case, tables, fragments):
    path = write_space(tmp_path, **tables)

    result = invoke("check-space", path)

    assert_usage_error(result, str(path), *fragments)


@pytest.mark.parametrize("case, tables, fragments", BAD_SPACES, ids=[case[0] for case in BAD_SPACES])
def test_search_bad_space_writes_nothing(tmp_path, case, tables, fragments):
    path = write_space(tmp_path, **tables)
    log_dir = tmp_path / "logs"

    result = invoke("search", "matcher", "--space", path, "--logdir", log_dir)

    assert_usage_error(result, str(path), *fragments)
    assert not log_dir.exists()


@pytest.mark.parametrize("via", ["check-space", "search"])
def test_space_file_missing(tmp_path, via):
    path = tmp_path / "absent.toml"

    result = check_file(via, path, tmp_path / "logs")

    assert_usage_error(result, str(path), "not found")


@pytest.mark.parametrize("via", ["check-space", "search"])
def test_space_file_unreadable(tmp_path, via):
    # A folder cannot be read as a file, even by root, whom file permissions do not stop.
    path = tmp_path / "folder.toml"
    path.mkdir()

    result = check_file(via, path, tmp_path / "logs")

    assert_usage_error(result, str(path), "failed to read")


@pytest.mark.parametrize("via", ["check-space", "search"])
def test_space_file_not_toml(tmp_path, via):
    path = tmp_path / "broken.toml"
    path.write_text('[optimizer\ntype = "Fixed"\n')

    result = check_file(via, path, tmp_path / "logs")

    assert_usage_error(result, str(path), "invalid TOML")


@pytest.mark.parametrize("via", ["check-space", "search"])
def test_space_file_empty(tmp_path, via):
    path = tmp_path / "empty.toml"
    path.write_text("")

    result = check_file(via, path, tmp_path / "logs")

    assert_usage_error(result, str(path), "no hyperparameters")


def test_search_grid_needs_float_step(tmp_path):
    path = write_space(tmp_path, learning_rate='type = "Float"\nmin_value = 0.01\nmax_value = 0.1')

    result = invoke("search", "matcher", "--space", path, "--tuner", "grid", "--logdir", tmp_path / "logs")

    assert_usage_error(result, "--tuner grid", str(path))
    assert not (tmp_path / "logs").exists()


# check-space on valid files.


def test_check_space_lists_domains(tmp_path):
    path = write_space(tmp_path)

    result = invoke("check-space", path)
    lines = result.stdout.splitlines()

    assert result.exit_code == 0
    assert lines[0] == f"{path}: valid search space."
    for name in REQUIRED:
        assert any(line.split()[0] == name for line in lines[1:-1]), name
    assert "adam, rmsprop" in result.stdout
    assert lines[-1] == f"Grid size: {BASE_GRID_SIZE} settings."


def test_check_space_shows_conditions(tmp_path):
    path = write_space(
        tmp_path,
        optimizer='type = "Choice"\nvalues = ["sgd", "adam"]',
        momentum='type = "Choice"\nvalues = [0.0, 0.9]\nparent_name = "optimizer"\nparent_values = ["sgd"]',
    )

    result = invoke("check-space", path)
    momentum = next(line for line in result.stdout.splitlines() if line.split()[0] == "momentum")

    assert result.exit_code == 0
    assert "0.0, 0.9" in momentum
    assert "only when optimizer is sgd" in momentum


def test_check_space_infinite_grid(tmp_path):
    path = write_space(tmp_path, learning_rate='type = "Float"\nmin_value = 0.01\nmax_value = 0.1\nsampling = "log"')

    result = invoke("check-space", path)

    assert result.exit_code == 0
    assert "0.01 to 0.1; log sampling" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("Grid size: infinite")


def test_check_space_json(tmp_path):
    path = write_space(tmp_path)

    result = invoke("check-space", path, "--json")
    output = json.loads(result.stdout)

    assert result.exit_code == 0
    assert output["path"] == str(path)
    assert set(output["hyperparameters"]) == set(REQUIRED)
    assert output["hyperparameters"]["restarts"]["values"] == [1, 2]
    assert output["grid_size"] == BASE_GRID_SIZE


@pytest.mark.parametrize("name", ["voter", "matcher", "example"])
def test_check_space_shipped_files(name):
    path = Path(__file__).parent.parent / "search_spaces" / f"{name}.toml"

    result = invoke("check-space", path)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{path}: valid search space.")


def test_check_space_with_keras_tuner(tmp_path):
    # Loads TensorFlow in this process, which takes a few seconds.
    path = write_space(tmp_path)

    result = invoke("check-space", path, "--keras-tuner")

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


# Bad search options.


@pytest.mark.parametrize("case, options, fragments", BAD_OPTIONS, ids=[case[0] for case in BAD_OPTIONS])
def test_search_bad_option_writes_nothing(tmp_path, case, options, fragments):
    space = write_space(tmp_path)
    log_dir = tmp_path / "logs"

    result = invoke("search", "matcher", "--space", space, "--logdir", log_dir, *options)

    assert_usage_error(result, *fragments)
    assert not log_dir.exists()


def test_search_unknown_model(tmp_path):
    result = invoke("search", "mathcer", "--logdir", tmp_path / "logs")

    assert_usage_error(result, "'mathcer'", "voter, matcher")
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("command", ["search", "trials"])
def test_unknown_model_wording(command, tmp_path):
    result = invoke(command, "mathcer", "--logdir", tmp_path / "logs")

    assert_usage_error(result, "Unknown model 'mathcer': use one of: voter, matcher.")


def test_search_logdir_is_file(tmp_path):
    space = write_space(tmp_path)
    log_dir = tmp_path / "logs.txt"
    log_dir.write_text("not a folder")

    result = invoke("search", "matcher", "--space", space, "--logdir", log_dir)

    assert_usage_error(result, "--logdir", str(log_dir), "is a file")
    assert log_dir.read_text() == "not a folder"


def test_search_logdir_under_file(tmp_path):
    # The write probe cannot create anything below a file, for any user, root included.
    space = write_space(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    log_dir = blocker / "logs"

    result = invoke("search", "matcher", "--space", space, "--logdir", log_dir)

    assert_usage_error(result, "--logdir", str(log_dir), str(blocker))


@pytest.fixture
def locked(tmp_path):
    """Yield a folder that this process cannot write into, root included.

    Root ignores permission bits, so for root the folder is made immutable with `chattr +i`. The kernel
    enforces that flag for every user. Where chattr is missing or fails, the test is skipped.
    """
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield folder
        folder.chmod(stat.S_IRWXU)
        return

    if shutil.which("chattr") is None:
        pytest.skip("root ignores permission bits and chattr is not installed")
    chattr = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True, check=False)
    if chattr.returncode != 0:
        pytest.skip(f"root ignores permission bits and chattr +i failed: {chattr.stderr.strip()}")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_search_logdir_not_writable(tmp_path, locked):
    space = write_space(tmp_path)

    result = invoke("search", "matcher", "--space", space, "--logdir", locked / "logs")

    assert_usage_error(result, "--logdir", "cannot write")
    assert list(locked.iterdir()) == []


@pytest.mark.skipif("tensorboard" not in COMMANDS, reason="no tensorboard command")
@pytest.mark.parametrize("port", ["0", "70000"])
def test_tensorboard_port_out_of_range(tmp_path, port):
    result = invoke("tensorboard", "--logdir", tmp_path, "--port", port)

    assert_usage_error(result, "--port", port)


@pytest.mark.skipif("tensorboard" not in COMMANDS, reason="no tensorboard command")
def test_tensorboard_port_in_use(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        result = invoke("tensorboard", "--logdir", tmp_path, "--port", port)

    assert_usage_error(result, str(port), "in use")


# Error reporting.


def test_debug_shows_traceback(tmp_path):
    path = tmp_path / "absent.toml"

    result = invoke("--debug", "check-space", path)

    assert result.exit_code == EXIT_USAGE
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"Error: {path}")


def test_trials_damaged_record(tmp_path):
    project = tmp_path / "matcher"
    project.mkdir()
    (project / "search.json").write_text("{ not json")

    result = invoke("trials", "matcher", "--logdir", tmp_path)

    assert_usage_error(result, str(project / "search.json"), "invalid JSON")


def test_trials_logdir_is_file(tmp_path):
    log_dir = tmp_path / "logs.txt"
    log_dir.write_text("not a folder")

    result = invoke("trials", "matcher", "--logdir", log_dir)

    assert_usage_error(result, f"Log dir {log_dir} is a file, not a folder", "--logdir")


def test_trials_project_is_file(tmp_path):
    (tmp_path / "matcher").write_text("not a folder")

    result = invoke("trials", "matcher", "--logdir", tmp_path)

    assert_usage_error(result, f"No search found in {tmp_path / 'matcher'}: it is a file, not a folder")


# The installed script, in subprocesses.


def test_script_bad_space_one_line(tmp_path):
    path = write_space(tmp_path, optimizer='type = "Choice"\nvalues = ["sgd", "nadam"]')

    done = run_script("check-space", path)

    assert done.returncode == EXIT_USAGE
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert str(path) in done.stderr
    assert '"nadam"' in done.stderr


def test_script_bad_option_skips_tensorflow(tmp_path):
    space = write_space(tmp_path)
    code = (
        "import sys; from kvsf_tune.cli import main; code = main(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'keras_tuner')))"
    )
    args = ["search", "matcher", "--space", space, "--runs", "0", "--logdir", tmp_path / "logs"]

    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=60, env=clean_environment()
    )

    assert "--runs 0" in done.stderr
    assert done.stdout.strip() == "[]"


def test_help_skips_tensorflow():
    commands = [[]] + [[command] for command in COMMANDS]
    code = (
        "import json, sys; from kvsf_tune.cli import main\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    assert main([*args, '--help']) == 0, args\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'keras_tuner'))\n"
        "print(json.dumps(loaded), file=sys.stderr)\n"
    )

    done = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[-1]) == []


@pytest.mark.parametrize("command", [""] + COMMANDS)
def test_script_help_answers(command):
    started = time.perf_counter()
    done = run_script(*([command] if command else []), "--help", timeout=30)
    seconds = time.perf_counter() - started

    # The time is printed for the record, not asserted, because it depends on the machine.
    print(f"kvsf-tune {command} --help: {seconds:.2f} s")
    assert done.returncode == 0
    assert "Usage:" in done.stdout
    assert done.stderr == ""
