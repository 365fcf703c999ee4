"""The `kvsf-tune` command line: thin Typer commands over the library modules.

Each command imports TensorFlow, Keras and KerasTuner inside its body, so `--help` prints without
loading them. `cli_options` declares the arguments and options, and `cli_errors` turns the errors
of a command into a message on stderr and an exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kvsf_tune import cli_errors, cli_options, console
from kvsf_tune.cli_errors import ErrorReportingGroup, resume_hint
from kvsf_tune.errors import EXIT_INTERRUPTED, EXIT_NOT_RELIABLE

if TYPE_CHECKING:
    from kvsf_tune.distributed import Role
    from kvsf_tune.tuning import SearchOptions, SearchResult

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


@app.callback()
def root(
    ctx: typer.Context,
    verbose: cli_options.Verbose = False,
    quiet: cli_options.Quiet = False,
    version: cli_options.Version = None,
) -> None:
    """Find training settings for two small Keras models that reliably reach a target accuracy."""
    console.configure(verbose=verbose, quiet=quiet)
    ctx.obj = console.Settings(verbose=verbose, quiet=quiet)


@app.command()
def search(
    ctx: typer.Context,
    model: cli_options.SearchModel,
    space: cli_options.Space = None,
    tuner: cli_options.Tuner = "random",
    max_trials: cli_options.MaxTrials = None,
    runs: cli_options.Runs = 48,
    target: cli_options.Target = 0.95,
    required_pass_rate: cli_options.RequiredPassRate = 0.9,
    confirmation_runs: cli_options.ConfirmationRuns = 64,
    seed: cli_options.Seed = 0,
    logdir: cli_options.LogDir = Path("logs"),
    project: cli_options.Project = None,
    overwrite: cli_options.Overwrite = False,
    as_json: cli_options.Json = False,
    workers: cli_options.Workers = None,
    role: cli_options.Role = None,
    oracle: cli_options.Oracle = None,
    tuner_id: cli_options.TunerId = None,
) -> None:
    """Search for a training setting that reaches --target on nearly every seed.

    Each trial trains --runs independent runs of one setting at once; the objective is the 95%
    Wilson lower bound of the pass rate. The best reliable setting is then confirmed on fresh seeds.
    The same command on an existing search resumes it. Exit code 0 when a confirmed reliable setting
    exists, 3 when none was found, 130 when interrupted.
    """
    from kvsf_tune import distributed, tuning

    # Options and the search-space file are checked before TensorFlow takes seconds to load.
    options = tuning.search_options(
        model, space=space, runs=runs, target=target, required_pass_rate=required_pass_rate, tuner=tuner,
        max_trials=max_trials, seed=seed, log_dir=logdir, project=project, overwrite=overwrite,
        confirmation_runs=confirmation_runs,
    )
    process_role = distributed.parse_role(workers=workers, role=role, oracle=oracle, tuner_id=tuner_id)
    _run_search(ctx, options, process_role, as_json=as_json)


def _run_search(ctx: typer.Context, options: SearchOptions, process_role: Role, *, as_json: bool) -> None:
    """Load TensorFlow, run the search with a progress display, then print the result.

    Raises:
        typer.Exit: With code 130 after printing the resume command when interrupted, or code 3 when
            the search found no confirmed reliable setting.
    """
    from kvsf_tune import tuning
    from kvsf_tune.progress import SearchProgress

    settings: console.Settings = ctx.obj
    console.load_tensorflow(settings)
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


def _print_result(result: SearchResult, *, as_json: bool, quiet: bool) -> None:
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
    model: cli_options.TrialsModel,
    logdir: cli_options.SearchLogDir = Path("logs"),
    project: cli_options.Project = None,
    as_json: cli_options.TrialsJson = False,
) -> None:
    """List a search's stored trials, best first, without training anything."""
    from kvsf_tune import tuning
    from kvsf_tune.data import check_model_name

    check_model_name(model)
    result = tuning.load_result(logdir, project or model)
    _print_result(result, as_json=as_json, quiet=False)


@app.command("export")
def export_command(
    ctx: typer.Context,
    model: cli_options.ExportModel,
    logdir: cli_options.SearchLogDir = Path("logs"),
    project: cli_options.Project = None,
    trial: cli_options.Trial = None,
    out: cli_options.ExportOut = None,
    format: cli_options.Format = "keras",
    api: cli_options.Api = "sequential",
    allow_unreliable: cli_options.AllowUnreliable = False,
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
    path: cli_options.ModelFile,
    data_seed: cli_options.DataSeed = 42,
    data: cli_options.Data = None,
    as_json: cli_options.Json = False,
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
    path: cli_options.ModelFile,
    input: cli_options.Input,
    out: cli_options.PredictOut = None,
) -> None:
    """Write the probability of class 1 and the 0/1 class (probability > 0.5) of every input row."""
    console.load_tensorflow(ctx.obj)
    from kvsf_tune import inference

    prediction = inference.predict_file(path, input, out=out)
    negatives = prediction.rows - prediction.positives
    typer.echo(str(prediction.path))
    typer.echo(f"Predicted {prediction.rows} rows: {prediction.positives} of class 1, {negatives} of class 0.")


@app.command("tensorboard")
def tensorboard_command(
    ctx: typer.Context,
    logdir: cli_options.TensorBoardLogDir = Path("logs"),
    port: cli_options.Port = 6006,
    host: cli_options.Host = "127.0.0.1",
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
    replicas: cli_options.Replicas = "1,16,64,256",
    epochs: cli_options.Epochs = 10,
    plain_fits: cli_options.PlainFits = 1,
    rows: cli_options.Rows = None,
    as_json: cli_options.Json = False,
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
    path: cli_options.SpaceFile,
    keras_tuner: cli_options.KerasTuner = False,
    as_json: cli_options.Json = False,
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
        # Not standalone, so that a usage error reaches this function instead of Typer's boxed panel.
        code = command.main(args=args, prog_name="kvsf-tune", standalone_mode=False)
    except typer.TyperException as error:
        line = cli_errors.usage_error_line(error, args)
        if line:
            typer.echo(line, err=True)
        return error.exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except SystemExit as done:
        return 0 if done.code is None else done.code
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
