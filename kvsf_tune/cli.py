"""The `kvsf-tune` command line: thin Typer commands over the library modules.

Each command imports TensorFlow, Keras and KerasTuner inside its body, so `--help` answers without
loading them. Errors of the `KvsfTuneError` hierarchy become one line on stderr and an exit code;
`-v`/`--debug` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
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
    ctx: typer.Context,
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
    ctx.obj = console.Settings(verbose=verbose, quiet=quiet)


@app.command()
def search(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model to tune: voter or matcher."),
    space: Optional[Path] = typer.Option(
        None, "--space", help="Search-space TOML file. Default: search_spaces/<model>.toml."
    ),
    tuner: str = typer.Option("random", "--tuner", help="KerasTuner tuner: random, bayesian, hyperband or grid."),
    max_trials: Optional[int] = typer.Option(
        None, "--max-trials", help="Trials to run. Default: 16 for the matcher, 12 for the voter."
    ),
    runs: int = typer.Option(48, "--runs", help="Independent runs (seeds) per trial."),
    target: float = typer.Option(0.95, "--target", help="Validation accuracy a run must reach (fraction 0-1)."),
    required_pass_rate: float = typer.Option(
        0.9, "--required-pass-rate", help="Wilson 95% lower bound of the pass rate a reliable setting reaches (0-1)."
    ),
    confirmation_runs: int = typer.Option(
        64, "--confirmation-runs", help="Fresh runs that confirm the best setting after the search."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the tuner, the runs' initialisations and batch orders."),
    logdir: Path = typer.Option(Path("logs"), "--logdir", help="Output folder; one sub-folder per search."),
    project: Optional[str] = typer.Option(None, "--project", help="Search folder inside --logdir. Default: the model name."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over instead of resuming a search in the same folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else there."),
) -> None:
    """Search for a training setting that reaches --target on nearly every seed.

    Each trial trains --runs independent runs of one setting at once; the objective is the 95%
    Wilson lower bound of the pass rate. The best reliable setting is then confirmed on fresh seeds.
    Exit code 0 when a confirmed reliable setting exists, 3 when none was found.
    """
    settings: console.Settings = ctx.obj
    console.load_tensorflow(settings)
    from kvsf_tune import report, tuning
    from kvsf_tune.errors import EXIT_NOT_RELIABLE
    from kvsf_tune.progress import SearchProgress

    with SearchProgress(enabled=not (settings.quiet or as_json)) as progress:
        try:
            result = tuning.search(
                model,
                space=space,
                runs=runs,
                target=target,
                required_pass_rate=required_pass_rate,
                tuner=tuner,
                max_trials=max_trials,
                seed=seed,
                log_dir=logdir,
                project=project,
                overwrite=overwrite,
                confirmation_runs=confirmation_runs,
                progress=progress,
            )
        except KeyboardInterrupt:
            typer.echo(_resume_hint(), err=True)
            raise typer.Exit(EXIT_INTERRUPTED)

    _print_result(result, as_json=as_json, quiet=settings.quiet)
    if not result.reliable:
        raise typer.Exit(EXIT_NOT_RELIABLE)


def _resume_hint() -> str:
    args = [arg for arg in sys.argv[1:] if arg != "--overwrite"]
    return "Interrupted; finished trials are kept. Resume with: kvsf-tune " + " ".join(args)


def _print_result(result, *, as_json: bool, quiet: bool) -> None:
    from kvsf_tune import report

    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    if not quiet:
        typer.echo(report.trial_table(result))
        typer.echo("")
    typer.echo(report.verdict(result))


@app.command()
def trials(
    model: str = typer.Argument(..., help="Model whose search to list: voter or matcher."),
    logdir: Path = typer.Option(Path("logs"), "--logdir", help="Output folder of the search."),
    project: Optional[str] = typer.Option(None, "--project", help="Search folder inside --logdir. Default: the model name."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout, as `search --json` does."),
) -> None:
    """List a search's stored trials, best first, without training anything."""
    from kvsf_tune import tuning
    from kvsf_tune.data import MODEL_NAMES
    from kvsf_tune.errors import UsageError

    if model not in MODEL_NAMES:
        raise UsageError(f"Unknown model {model!r}; use one of: {', '.join(MODEL_NAMES)}.")
    result = tuning.load_result(logdir, project or model)
    _print_result(result, as_json=as_json, quiet=False)


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
