"""Tests of kvsf_tune.benchmark and the `kvsf-tune benchmark` command, on a tiny configuration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kvsf_tune import benchmark
from kvsf_tune.cli import app, main
from kvsf_tune.errors import EXIT_USAGE, KvsfTuneError, UsageError


def test_parse_replicas_list():
    assert benchmark.parse_replicas("1,16,64") == (1, 16, 64)


@pytest.mark.parametrize("text", ["", "1,,2", "0,4", "-3", "a,b", "2.5"])
def test_parse_replicas_invalid(text):
    with pytest.raises(UsageError, match="Invalid --replicas"):
        benchmark.parse_replicas(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"replicas": ()}, "Invalid bank sizes"),
        ({"replicas": (4, 0)}, "Invalid bank sizes"),
        ({"epochs": 0}, "Invalid epochs 0"),
        ({"plain_fits": 0}, "Invalid plain fits 0"),
        ({"rows": 3}, "Invalid rows 3"),
    ],
)
def test_run_invalid_options(options, message):
    with pytest.raises(UsageError, match=message):
        benchmark.run(**options)


def test_time_bank_in_subprocess_failure():
    # A child given no training rows fails inside TensorFlow, and the parent reports it.
    with pytest.raises(KvsfTuneError, match="Timing a bank of 2 replicas failed"):
        benchmark.time_bank_in_subprocess(2, epochs=1, rows=0)


@pytest.mark.parametrize(("epochs", "expected"), [([5.0, 2.0, 2.2, 1.8], 3.0), ([1.0, 2.0, 2.0], 0.0), ([4.0], None)])
def test_compile_estimate(epochs, expected):
    assert benchmark._compile_estimate(epochs) == expected


def test_peak_rss_positive():
    assert benchmark.peak_rss_mb() > 0


def test_load_splits_rows():
    (x_train, y_train), (x_val, y_val) = benchmark.load_splits(40)
    assert len(y_train) == 40
    assert len(y_val) == 10
    assert [x.shape for x in x_train] == [(40, 5), (40, 5)]


@pytest.fixture(scope="module")
def cli_json() -> dict:
    # A real process, so the test also shows that logs stay off stdout and it parses as JSON.
    args = ["benchmark", "--json", "--epochs", "2", "--replicas", "2", "--plain-fits", "1", "--rows", "40"]
    finished = subprocess.run(
        [sys.executable, "-m", "kvsf_tune.cli", *args], capture_output=True, text=True, check=False
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_cli_benchmark_json_keys(cli_json):
    assert set(cli_json) >= {"baseline", "bank", "machine", "versions"}


def test_cli_benchmark_baseline_keys(cli_json):
    baseline = cli_json["baseline"]
    assert baseline["plain_seconds_per_fit"] > 0
    assert baseline["tuned_seconds_per_fit"] > 0


def test_cli_benchmark_bank_entry(cli_json):
    (entry,) = cli_json["bank"]
    expected = {"replicas", "seconds", "seconds_per_fit", "speedup_vs_plain", "speedup_vs_tuned", "peak_rss_mb"}
    assert set(entry) >= expected
    assert entry["replicas"] == 2


def test_cli_benchmark_bank_arithmetic(cli_json):
    (entry,) = cli_json["bank"]
    plain = cli_json["baseline"]["plain_seconds_per_fit"]
    assert entry["seconds_per_fit"] == pytest.approx(entry["seconds"] / 2)
    assert entry["speedup_vs_plain"] == pytest.approx(plain / entry["seconds_per_fit"])


def test_cli_benchmark_child_memory(cli_json):
    # A child process holding TensorFlow uses well over 100 MiB, so a tiny value means a wrong unit.
    assert cli_json["bank"][0]["peak_rss_mb"] > 100


def test_cli_benchmark_settings_rows(cli_json):
    assert cli_json["settings"]["train_rows"] == 40


def test_cli_benchmark_help_lists_options():
    result = CliRunner().invoke(app, ["benchmark", "--help"])
    assert result.exit_code == 0
    assert "--plain-fits" in result.stdout
    assert "--rows" not in result.stdout


def test_cli_benchmark_invalid_replicas(capsys):
    code = main(["benchmark", "--replicas", "4,zero"])
    assert code == EXIT_USAGE
    assert "Invalid --replicas '4,zero'" in capsys.readouterr().err
