"""Tests of `cli_errors`: errors and interruptions of a command become one line on stderr and an exit code.

Most tests build a small Typer app with the CLI's command group, so no command trains anything. The
parsing-error tests run the real entry point, `cli.main`, on words that fail before any command runs.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kvsf_tune import console
from kvsf_tune.cli_errors import ErrorReportingGroup, resume_hint
from kvsf_tune.errors import EXIT_FAILURE, EXIT_INTERRUPTED
from conftest import run_cli


def failing_app(error: BaseException) -> typer.Typer:
    """Return a one-command app with the CLI's error handling whose command `fail` raises `error`."""
    test_app = typer.Typer(cls=ErrorReportingGroup)

    @test_app.callback()
    def root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug")) -> None:
        ctx.obj = console.Settings(verbose=debug)

    @test_app.command()
    def fail() -> None:
        raise error

    return test_app


def hint_app() -> typer.Typer:
    """Return an app whose command `search` prints the resume hint of its own invocation."""
    test_app = typer.Typer(cls=ErrorReportingGroup)

    @test_app.callback()
    def root(quiet: bool = typer.Option(False, "--quiet")) -> None:
        pass

    @test_app.command()
    def search(
        ctx: typer.Context,
        model: str = typer.Argument(...),
        logdir: Path = typer.Option(Path("logs"), "--logdir"),
        runs: int = typer.Option(48, "--runs"),
        overwrite: bool = typer.Option(False, "--overwrite"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        typer.echo(resume_hint(ctx))

    return test_app


def test_unexpected_error_one_line():
    result = CliRunner().invoke(failing_app(ZeroDivisionError("division by zero")), ["fail"])

    assert result.exit_code == EXIT_FAILURE
    assert result.stderr.startswith("Error: unexpected ZeroDivisionError: division by zero.")
    assert "--debug" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unexpected_error_debug_traceback():
    result = CliRunner().invoke(failing_app(ZeroDivisionError("division by zero")), ["--debug", "fail"])

    assert result.exit_code == EXIT_FAILURE
    assert "Traceback" in result.stderr
    assert "ZeroDivisionError" in result.stderr.splitlines()[-1]


def test_keyboard_interrupt_exit_code():
    result = CliRunner().invoke(failing_app(KeyboardInterrupt()), ["fail"])

    assert result.exit_code == EXIT_INTERRUPTED
    assert result.stderr == "Error: Interrupted.\n"


def test_resume_hint_repeats_command():
    result = CliRunner().invoke(hint_app(), ["--quiet", "search", "matcher", "--runs", "4", "--overwrite", "--json"])
    prefix = "Interrupted; finished trials are kept. Resume with: "

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(prefix)
    words = shlex.split(result.stdout[len(prefix) :])
    # --runs 48 is the default, so it is left out; --overwrite would discard the finished trials.
    assert words == ["kvsf-tune", "--quiet", "search", "matcher", "--logdir", os.path.abspath("logs"), "--runs", "4", "--json"]


# --- command-line parsing errors, through the real entry point ---------------------------------------


@pytest.mark.parametrize(
    "args, named, help_command",
    [
        (["search", "matcher", "--max-trials", "abc"], "'abc'", "kvsf-tune search --help"),
        (["search", "matcher", "--target=high"], "'high'", "kvsf-tune search --help"),
        (["serch"], "'serch'", "kvsf-tune --help"),
        (["search"], "'model'", "kvsf-tune search --help"),
    ],
)
def test_parse_error_is_one_line(args, named, help_command):
    outcome = run_cli(*args)

    assert outcome.code == 2
    assert outcome.stdout == ""
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert named in outcome.stderr
    assert f"`{help_command}`" in outcome.stderr
    assert "╭" not in outcome.stderr


def test_no_command_prints_help_only():
    outcome = run_cli()

    assert outcome.code == 2
    assert "Usage: kvsf-tune" in outcome.stdout
    assert outcome.stderr == ""
