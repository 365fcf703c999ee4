"""The arguments and options of the `kvsf-tune` commands, declared once with their help text.

Each name is an `Annotated` type that a command in `kvsf_tune.cli` gives one of its parameters.
The default value stays in the command's signature. Options that several commands share
(`--json`, `--project`) are declared once, so their help reads the same everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kvsf_tune import __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kvsf-tune {__version__}")
        raise typer.Exit()


# The root command's options.

Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", "--debug", help="Show debug logs, TensorFlow's messages and tracebacks.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final result.")]
Version = Annotated[
    bool | None,
    typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
]

# Options that several commands share.

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else there.")]
Project = Annotated[
    str | None, typer.Option("--project", help="Search folder inside --logdir. Default: the model name.")
]
SearchLogDir = Annotated[Path, typer.Option("--logdir", help="Output folder of the search.")]
ModelFile = Annotated[Path, typer.Argument(help="Exported model: a .keras file or a SavedModel folder.")]

# search

SearchModel = Annotated[str, typer.Argument(help="Model to tune: voter or matcher.")]
Space = Annotated[
    Path | None, typer.Option("--space", help="Search-space TOML file. Default: search_spaces/MODEL.toml.")
]
Tuner = Annotated[str, typer.Option("--tuner", help="KerasTuner tuner: random, bayesian, hyperband or grid.")]
MaxTrials = Annotated[
    int | None, typer.Option("--max-trials", help="Trials to run. Default: 16 for the matcher, 12 for the voter.")
]
Runs = Annotated[int, typer.Option("--runs", help="Independent runs (seeds) per trial.")]
Target = Annotated[float, typer.Option("--target", help="Validation accuracy a run must reach (fraction 0-1).")]
RequiredPassRate = Annotated[
    float,
    typer.Option(
        "--required-pass-rate", help="Wilson 95% lower bound of the pass rate a reliable setting reaches (0-1)."
    ),
]
ConfirmationRuns = Annotated[
    int, typer.Option("--confirmation-runs", help="Fresh runs that confirm the best setting after the search.")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the tuner, the runs' initialisations and batch orders.")]
LogDir = Annotated[Path, typer.Option("--logdir", help="Output folder; one sub-folder per search.")]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Start over instead of resuming a search in the same folder.")
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Train trials in this many worker processes, with KerasTuner's oracle on 127.0.0.1. "
        "Default: one process trains every trial.",
    ),
]
Role = Annotated[
    str | None,
    typer.Option("--role", help="Part in a search over several machines: chief (serves the oracle) or worker."),
]
Oracle = Annotated[
    str | None,
    typer.Option(
        "--oracle",
        help="HOST:PORT the chief listens on (port 0: any free port) or a worker connects to. "
        "Default: KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.",
    ),
]
TunerId = Annotated[
    str | None,
    typer.Option(
        "--tuner-id", help="A worker's id, unique per worker, for example tuner1. Default: KERASTUNER_TUNER_ID."
    ),
]

# trials

TrialsModel = Annotated[str, typer.Argument(help="Model whose search to list: voter or matcher.")]
TrialsJson = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout, as `search --json` does.")
]

# export

ExportModel = Annotated[str, typer.Argument(help="Model whose search to export from: voter or matcher.")]
Trial = Annotated[
    str | None,
    typer.Option("--trial", help="Trial id to export. Default: the trial the search confirmed as reliable."),
]
ExportOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Output path. Default: LOGDIR/PROJECT/export/MODEL_trial_ID.keras, "
        "or a folder ending in _savedmodel for --format savedmodel.",
    ),
]
Format = Annotated[
    str,
    typer.Option(
        "--format", help="keras: one .keras file. savedmodel: a TensorFlow SavedModel folder for serving."
    ),
]
Api = Annotated[
    str, typer.Option("--api", help="Voter only: sequential or functional. The matcher is functional.")
]
AllowUnreliable = Annotated[
    bool,
    typer.Option(
        "--allow-unreliable",
        help="Export a completed trial that is not reliable. Failed trials are never exported.",
    ),
]

# evaluate

DataSeed = Annotated[
    int, typer.Option("--data-seed", help="Seed of the exercise's dataset whose validation split is used.")
]
Data = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Labelled data instead of the validation split. .npz: voter x (n, 9) and y (n,); matcher s1, s2 "
        "(n, 5) and y. .csv: voter 9 columns, matcher 10 (s1 then s2), then the label 0 or 1; optional header row.",
    ),
]

# predict

Input = Annotated[
    Path,
    typer.Option(
        "--input",
        help="Rows to predict. .npz: voter x (n, 9); matcher s1, s2 (n, 5). .csv: voter 9 columns, matcher 10 "
        "(s1 then s2), optional header row; one extra last column (a label) is ignored.",
    ),
]
PredictOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Output .csv (probability,class) or .npz. Default: INPUT_STEM.predictions.csv beside the input.",
    ),
]

# tensorboard

TensorBoardLogDir = Annotated[
    Path, typer.Option("--logdir", help="Folder to show: the log dir of the searches or one search's folder.")
]
Port = Annotated[int, typer.Option("--port", help="TCP port to serve on (1-65535).")]
Host = Annotated[
    str, typer.Option("--host", help="Address to bind. Any non-loopback address lets other machines open it.")
]

# benchmark

Replicas = Annotated[
    str,
    typer.Option("--replicas", help="Bank sizes to time, comma-separated; each runs in a fresh process."),
]
Epochs = Annotated[
    int, typer.Option("--epochs", min=1, help="Training epochs of every fit (the exercise uses 10).")
]
PlainFits = Annotated[
    int, typer.Option("--plain-fits", min=1, help="Plain model.fit runs averaged for each baseline.")
]
Rows = Annotated[
    int | None,
    typer.Option("--rows", min=4, hidden=True, help="Train on the first ROWS rows only (quick checks)."),
]

# check-space

SpaceFile = Annotated[Path, typer.Argument(help="Search-space TOML file to check.")]
KerasTuner = Annotated[
    bool,
    typer.Option(
        "--keras-tuner",
        help="Also declare every entry with KerasTuner, as a search does. This loads TensorFlow, which takes seconds.",
    ),
]
