"""The `kvsf-tune` command line: thin Typer commands over the library modules.

Each command imports TensorFlow, Keras and KerasTuner inside its body, so `--help` prints without
loading them. `cli_errors` turns the errors of a command into a message on stderr and an exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from kvsf_tune import __version__, console
from kvsf_tune.cli_errors import ErrorReportingGroup, resume_hint
from kvsf_tune.errors import EXIT_INTERRUPTED

app = typer.Typer(
    cls=ErrorReportingGroup,
    name="kvsf-tune",
    help="Find training settings for two small Keras models that reliably reach a target accuracy.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Markdown joins the wrapped lines of a docstring paragraph in --help.
    rich_markup_mode="markdown",
)


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
        None, "--space", help="Search-space TOML file. Default: search_spaces/MODEL.toml."
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
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        help="Train trials in this many worker processes, with KerasTuner's oracle on 127.0.0.1. "
        "Default: one process trains every trial.",
    ),
    role: Optional[str] = typer.Option(
        None, "--role", help="Part in a search over several machines: chief (serves the oracle) or worker."
    ),
    oracle: Optional[str] = typer.Option(
        None,
        "--oracle",
        help="HOST:PORT the chief listens on (port 0: any free port) or a worker connects to. "
        "Default: KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.",
    ),
    tuner_id: Optional[str] = typer.Option(
        None, "--tuner-id", help="A worker's id, unique per worker, for example tuner1. Default: KERASTUNER_TUNER_ID."
    ),
) -> None:
    """Search for a training setting that reaches --target on nearly every seed.

    Each trial trains --runs independent runs of one setting at once; the objective is the 95%
    Wilson lower bound of the pass rate. The best reliable setting is then confirmed on fresh seeds.
    The same command on an existing search resumes it. Exit code 0 when a confirmed reliable setting
    exists, 3 when none was found, 130 when interrupted.
    """
    settings: console.Settings = ctx.obj
    from kvsf_tune import tuning

    # Options and the search-space file are checked before TensorFlow takes seconds to load.
    options = tuning.search_options(
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
    )
    from kvsf_tune import distributed

    process_role = distributed.parse_role(workers=workers, role=role, oracle=oracle, tuner_id=tuner_id)
    console.load_tensorflow(settings)
    from kvsf_tune.errors import EXIT_NOT_RELIABLE
    from kvsf_tune.progress import SearchProgress

    with SearchProgress(enabled=not (settings.quiet or as_json)) as progress:
        try:
            result = tuning.run(options, progress=progress, role=process_role)
        except KeyboardInterrupt:
            typer.echo(resume_hint(ctx), err=True)
            raise typer.Exit(EXIT_INTERRUPTED)

    if result is None:
        # A worker: the chief ranks and confirms the trials.
        return
    _print_result(result, as_json=as_json, quiet=settings.quiet)
    if not result.reliable:
        raise typer.Exit(EXIT_NOT_RELIABLE)


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


@app.command("export")
def export_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model whose search to export from: voter or matcher."),
    logdir: Path = typer.Option(Path("logs"), "--logdir", help="Output folder of the search."),
    project: Optional[str] = typer.Option(None, "--project", help="Search folder inside --logdir. Default: the model name."),
    trial: Optional[str] = typer.Option(
        None, "--trial", help="Trial id to export. Default: the trial the search confirmed as reliable."
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help="Output path. Default: LOGDIR/PROJECT/export/MODEL_trial_ID.keras, "
        "or a folder ending in _savedmodel for --format savedmodel.",
    ),
    format: str = typer.Option(
        "keras", "--format", help="keras: one .keras file. savedmodel: a TensorFlow SavedModel folder for serving."
    ),
    api: str = typer.Option("sequential", "--api", help="Voter only: sequential or functional. The matcher is functional."),
    allow_unreliable: bool = typer.Option(
        False, "--allow-unreliable", help="Export a completed trial that is not reliable. Failed trials are never exported."
    ),
) -> None:
    """Export one run of a trial as a plain Keras model, with a model card (.card.json) beside it.

    The run is the one whose kept restart has the lowest final training loss; validation accuracy
    plays no part in the choice. The file loads with keras.models.load_model and needs no kvsf-tune.
    """
    console.load_tensorflow(ctx.obj)
    from kvsf_tune import export

    result = export.export_trial(
        model,
        log_dir=logdir,
        project=project,
        trial_id=trial,
        out=out,
        format=format,
        api=api,
        allow_unreliable=allow_unreliable,
    )
    typer.echo(str(result.path))
    typer.echo(result.summary_line())


@app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Exported model: a .keras file or a SavedModel folder."),
    data_seed: int = typer.Option(42, "--data-seed", help="Seed of the exercise's dataset whose validation split is used."),
    data: Optional[Path] = typer.Option(
        None,
        "--data",
        help="Labelled data instead of the validation split. .npz: voter x (n, 9) and y (n,); matcher s1, s2 "
        "(n, 5) and y. .csv: voter 9 columns, matcher 10 (s1 then s2), then the label 0 or 1; optional header row.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else there."),
) -> None:
    """Report a model's accuracy and loss on the exercise's validation split or on your data.

    The model kind comes from its inputs: one input of 9 is the voter, two inputs of 5 the matcher.
    The loss is the exercise's: mean squared error (voter) or binary cross-entropy (matcher).
    """
    console.load_tensorflow(ctx.obj)
    from kvsf_tune import inference

    evaluation = inference.evaluate_model(path, data_seed=data_seed, data=data)
    if as_json:
        typer.echo(json.dumps(evaluation.to_json(), indent=2))
        return
    typer.echo(
        f"{evaluation.model} {evaluation.path}: accuracy {evaluation.accuracy:.4f}, loss {evaluation.loss:.4f} "
        f"on {evaluation.rows} rows ({evaluation.data})"
    )


@app.command("predict")
def predict_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Exported model: a .keras file or a SavedModel folder."),
    input: Path = typer.Option(
        ...,
        "--input",
        help="Rows to predict. .npz: voter x (n, 9); matcher s1, s2 (n, 5). .csv: voter 9 columns, matcher 10 "
        "(s1 then s2), optional header row; one extra last column (a label) is ignored.",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Output .csv (probability,class) or .npz. Default: INPUT_STEM.predictions.csv beside the input."
    ),
) -> None:
    """Write the probability of class 1 and the 0/1 class (probability > 0.5) of every input row."""
    console.load_tensorflow(ctx.obj)
    from kvsf_tune import inference

    prediction = inference.predict_file(path, input, out=out)
    typer.echo(str(prediction.path))
    typer.echo(f"Predicted {prediction.rows} rows: {prediction.positives} of class 1, {prediction.rows - prediction.positives} of class 0.")


@app.command("tensorboard")
def tensorboard_command(
    ctx: typer.Context,
    logdir: Path = typer.Option(
        Path("logs"), "--logdir", help="Folder to show: the log dir of the searches or one search's folder."
    ),
    port: int = typer.Option(6006, "--port", help="TCP port to serve on (1-65535)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind. Any non-loopback address lets other machines open it."
    ),
) -> None:
    """Start TensorBoard on a search's log dir and run until Ctrl-C.

    The HParams dashboard lists one session per trial and confirmation; the scalars, histograms,
    text and images dashboards show each trial's curves, weights and accuracies.
    """
    from kvsf_tune import tensorboard

    folder = tensorboard.check_server_options(logdir, port=port, host=host)
    typer.echo(f"TensorBoard on {folder}: open {tensorboard.server_url(host, port)} (Ctrl-C to stop)")
    tensorboard.serve(folder, port=port, host=host, verbose=ctx.obj.verbose)


@app.command("benchmark")
def benchmark_command(
    ctx: typer.Context,
    replicas: str = typer.Option(
        "1,16,64,256", "--replicas", help="Bank sizes to time, comma-separated; each runs in a fresh process."
    ),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Training epochs of every fit (the exercise uses 10)."),
    plain_fits: int = typer.Option(1, "--plain-fits", min=1, help="Plain model.fit runs averaged for each baseline."),
    rows: Optional[int] = typer.Option(
        None, "--rows", min=4, hidden=True, help="Train on the first ROWS rows only (quick checks)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else there."),
) -> None:
    """Time the replica bank against plain model.fit on the exercise's matcher settings.

    Settings: SGD learning rate 0.01, batch 4, validation on the last 20% after every epoch.
    Prints seconds per fit (one fit trains one seed), speed-ups and peak memory per bank size.
    """
    from kvsf_tune import benchmark as benchmarking

    sizes = benchmarking.parse_replicas(replicas)
    console.load_tensorflow(ctx.obj)
    report = benchmarking.run(replicas=sizes, epochs=epochs, plain_fits=plain_fits, rows=rows)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else benchmarking.format_table(report))


@app.command("check-space")
def check_space_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Search-space TOML file to check."),
    keras_tuner: bool = typer.Option(
        False,
        "--keras-tuner",
        help="Also declare every entry with KerasTuner, as a search does. This loads TensorFlow, which takes seconds.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else there."),
) -> None:
    """Check a search-space file without training, then show each hyperparameter's domain and the grid size.

    Exit code 0 when the file is valid, 2 with a message naming the file, the key and the value when not.
    """
    from kvsf_tune import search_space_report
    from kvsf_tune.search_space import load_space, validate_with_keras_tuner

    space = load_space(path)
    if keras_tuner:
        console.load_tensorflow(ctx.obj)
        validate_with_keras_tuner(space)

    if as_json:
        typer.echo(json.dumps(search_space_report.space_json(space), indent=2))
        return
    typer.echo(search_space_report.space_text(space))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: `sys.argv[1:]`) and return its exit code.

    Errors have become a message on stderr by then (see `cli_errors.ErrorReportingGroup`).
    """
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="kvsf-tune", standalone_mode=True)
    except SystemExit as done:
        return 0 if done.code is None else done.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
