"""Trial and search records on disk, readable without TensorFlow.

Layout of one search (a KerasTuner project folder) under the log dir:

    <log dir>/<project>/
        search.json                   the search's options, ranking, best trial and confirmation
        oracle.json, tuner0.json      KerasTuner's own state (used to resume)
        trial_<id>/
            trial.json                KerasTuner's record of the trial
            kvsf_trial.json           kvsf-tune's record: summary, runs, seeds
            bank.weights.h5           final weights of every replica of the trial
        confirmation_<id>/            the same files for the confirmation of trial <id>
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kvsf_tune.errors import LogDirError, TrialNotFoundError
from kvsf_tune.reliability import RunRecord, TrialSummary

SEARCH_FILE = "search.json"
TRIAL_FILE = "kvsf_trial.json"
WEIGHTS_FILE = "bank.weights.h5"
CONFIRMATION_PREFIX = "confirmation_"


@dataclass(frozen=True)
class TrialRecord:
    """Everything kvsf-tune stores about one trained trial (or confirmation).

    Attributes:
        model: `"voter"` or `"matcher"`.
        summary: The trial's reliability summary.
        runs: One record per run.
        replica_seeds: Initialisation seed of every replica of the bank, in bank order.
        shuffle_seed: Seed of the batch order shared by all replicas.
        restarts: Restarts per run.
        target: Target accuracy a run had to reach.
        data_seed: Seed of the exercise's dataset.
        setting: The resolved setting the bank trained with (optimizer, learning_rate, ...).
        confirmation_of: For a confirmation, the id of the trial it confirms; else `None`.
    """

    model: str
    summary: TrialSummary
    runs: tuple[RunRecord, ...]
    replica_seeds: tuple[int, ...]
    shuffle_seed: int
    restarts: int
    target: float
    data_seed: int
    setting: dict
    confirmation_of: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["summary"] = self.summary.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> TrialRecord:
        fields = dict(data)
        fields["summary"] = TrialSummary.from_json(data["summary"])
        fields["runs"] = tuple(RunRecord(**{**run, "restart_seeds": tuple(run["restart_seeds"])}) for run in data["runs"])
        fields["replica_seeds"] = tuple(data["replica_seeds"])
        return cls(**fields)


def project_dir(log_dir: str | os.PathLike, project: str) -> Path:
    """Return the folder of one search: `<log dir>/<project>`."""
    return Path(log_dir) / project


def check_log_dir_is_folder(log_dir: Path) -> None:
    """Check that a log dir, if it exists, is a folder.

    Raises:
        LogDirError: If `log_dir` exists but is a file.
    """
    if log_dir.exists() and not log_dir.is_dir():
        raise LogDirError(f"Log dir {log_dir} is a file, not a folder. Pass the folder of a search with --logdir.")


def check_search_is_folder(project: Path) -> None:
    """Check that neither a search's folder nor its log dir is a file.

    Without this check, a command that reads a search would report a missing folder when a file of
    that name exists.

    Raises:
        LogDirError: If the log dir (`project`'s parent) or `project` is a file.
    """
    check_log_dir_is_folder(project.parent)
    if project.exists() and not project.is_dir():
        raise LogDirError(f"No search found in {project}: it is a file, not a folder. Pass the right --logdir/--project.")


def trial_dir(project: Path, trial_id: str) -> Path:
    """Return the folder KerasTuner gives a trial."""
    return project / f"trial_{trial_id}"


def confirmation_dir(project: Path, trial_id: str) -> Path:
    """Return the folder of the confirmation of a trial."""
    return project / f"{CONFIRMATION_PREFIX}{trial_id}"


def write_json_atomically(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(temporary, path)


def save_trial(folder: Path, record: TrialRecord) -> None:
    """Write a trial record into its folder."""
    write_json_atomically(folder / TRIAL_FILE, record.to_json())


def load_trial(folder: Path) -> TrialRecord:
    """Read the trial record of a folder; raise `TrialNotFoundError` when it has none."""
    path = folder / TRIAL_FILE
    if not path.is_file():
        raise TrialNotFoundError(f"No finished trial in {folder}: {TRIAL_FILE} is missing.")
    return TrialRecord.from_json(_read_json(path))


def load_trials(project: Path) -> list[TrialRecord]:
    """Read every finished trial of a search, in trial-id order (confirmations excluded)."""
    folders = sorted(project.glob("trial_*"))
    return [load_trial(folder) for folder in folders if (folder / TRIAL_FILE).is_file()]


def load_search(project: Path) -> dict:
    """Read a search's `search.json`, raising `LogDirError` when the folder contains no search."""
    path = project / SEARCH_FILE
    if not path.is_file():
        raise LogDirError(
            f"No search found in {project}: {SEARCH_FILE} is missing. "
            "Run `kvsf-tune search` first or pass the right --logdir/--project."
        )
    return _read_json(path)


def _read_json(path: Path) -> dict:
    # Records are written atomically, so a damaged one was most likely edited by hand.
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LogDirError(
            f"{path}: invalid JSON ({error}). Restore the file, or start the search over with --overwrite."
        ) from error


def save_search(project: Path, data: dict) -> None:
    """Write a search's `search.json`."""
    write_json_atomically(project / SEARCH_FILE, data)
