"""The `kvsf-tune` command line: thin Typer commands over the library modules.

Each command imports TensorFlow, Keras and KerasTuner inside its body, so `--help` answers without
loading them. Errors of the `KvsfTuneError` hierarchy become one line on stderr and an exit code;
`-v`/`--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from kvsf_tune import __version__, console
from kvsf_tune.errors import EXIT_INTERRUPTED, KvsfTuneError

app = typer.Typer(
    name="kvsf-tune",
    help="Find training settings for two small Keras models that reliably reach a target accuracy.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_DEBUG_FLAGS = ("-v", "--verbose", "--debug")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kvsf-tune {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", "--debug", help="Show debug logs, TensorFlow's messages and tracebacks."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final result."),
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Find training settings for two small Keras models that reliably reach a target accuracy."""
    console.configure(verbose=verbose, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn known errors into a message on stderr and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = any(flag in args for flag in _DEBUG_FLAGS)
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="kvsf-tune", standalone_mode=True)
    except SystemExit as done:
        return 0 if done.code is None else done.code
    except KvsfTuneError as error:
        return _report(error, error.exit_code, debug)
    except KeyboardInterrupt as error:
        return _report(error, EXIT_INTERRUPTED, debug, "Interrupted.")
    return 0


def _report(error: BaseException, code: int, debug: bool, message: str | None = None) -> int:
    if debug:
        import traceback

        traceback.print_exception(error)
    typer.echo(f"Error: {message or error}", err=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
