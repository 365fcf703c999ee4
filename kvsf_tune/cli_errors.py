"""Error reporting of the `kvsf-tune` commands: one line on stderr and an exit code per failure.

Errors of the `KvsfTuneError` hierarchy become one line on stderr and their own exit code inside
the app itself, so Typer's `CliRunner` and the `kvsf-tune` script behave alike. Any other
exception becomes one line and exit code 1. `-v`/`--debug` prints the traceback as well. An
interrupted search names the command that resumes it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

from kvsf_tune import console
from kvsf_tune.errors import EXIT_FAILURE, EXIT_INTERRUPTED, KvsfTuneError


class ErrorReportingGroup(TyperGroup):
    """The app's command group: it turns an exception of a command into a message and an exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KvsfTuneError as error:
            code = _report(error, error.exit_code, _debug(ctx))
        except KeyboardInterrupt as error:
            code = _report(error, EXIT_INTERRUPTED, _debug(ctx), "Interrupted.")
        except BrokenPipeError:
            # The reader of stdout has gone (as with `| head`), so nothing more can be shown.
            _detach_stdout()
            code = EXIT_FAILURE
        except Exception as error:
            hint = "" if _debug(ctx) else " Run again with --debug to see the traceback."
            message = f"unexpected {type(error).__name__}: {str(error).rstrip('.')}.{hint}"
            code = _report(error, EXIT_FAILURE, _debug(ctx), message)
        raise typer.Exit(code)


def _detach_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _debug(ctx: typer.Context) -> bool:
    # The root callback stores the settings; an error before it ran shows no traceback.
    return isinstance(ctx.obj, console.Settings) and ctx.obj.verbose


def _report(error: BaseException, code: int, debug: bool, message: str | None = None) -> int:
    """Print `Error: <message>` on stderr, after the traceback when `debug` is set; return `code`."""
    if debug:
        import traceback

        traceback.print_exception(error)
    typer.echo(f"Error: {message or error}", err=True)
    return code


def resume_hint(ctx: typer.Context) -> str:
    """Return the message naming the command that resumes an interrupted search."""
    words = ["kvsf-tune", *_option_words(ctx.parent), ctx.info_name, *_option_words(ctx, skip=("overwrite",))]
    return "Interrupted; finished trials are kept. Resume with: " + shlex.join(words)


def _option_words(ctx: typer.Context | None, skip: tuple[str, ...] = ()) -> list[str]:
    """Return the command-line words of a context's parameters, paths made absolute."""
    words: list[str] = []
    for param in ctx.command.params if ctx is not None else []:
        value = ctx.params.get(param.name)
        if param.name in skip or value is None or (value == param.default and not isinstance(value, Path)):
            continue
        if param.param_type_name == "argument":
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            words.extend(param.opts[:1] if value else [])
        else:
            words.extend([param.opts[0], os.path.abspath(value) if isinstance(value, Path) else str(value)])
    return words


def usage_error_line(error: typer.TyperException, args: list[str]) -> str:
    """Return a command-line parsing error as one line that names the value and the help command.

    Args:
        error: Typer's usage error, such as an option value of the wrong type or an unknown command.
        args: The command-line words, searched for the value of the option that was rejected.

    Returns:
        The line, or "" when there is nothing to add to what Typer has printed.
    """
    message = error.format_message().rstrip(".")
    if not message:
        # `kvsf-tune` with no command has printed the full help already, so no line is added.
        return ""
    value = _option_value(getattr(error, "param", None), args)
    if value is not None:
        message = f"{message} (received {value!r})"
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "kvsf-tune"
    ending = "" if message.endswith(("?", "!")) else "."
    return f"Error: {message}{ending} Run `{command} --help` for the options."


def _option_value(param, args: list[str]) -> str | None:
    """Return the word given to an option on the command line, or `None` if it is not found."""
    names = getattr(param, "opts", []) if getattr(param, "param_type_name", "") == "option" else []
    for index, word in enumerate(args):
        for name in names:
            if word == name and index + 1 < len(args):
                return args[index + 1]
            if word.startswith(f"{name}="):
                return word.split("=", 1)[1]
    return None
