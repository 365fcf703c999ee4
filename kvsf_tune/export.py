"""Export one trained run as a plain Keras model and write its model card.

An export carries the weights of ONE run that a trial really trained: the run whose kept restart
has the lowest final training loss, so validation accuracy never takes part in the choice. The
file contains only the plain architecture of `kvsf_tune.models` (standard Keras layers, no custom
objects), so `keras.models.load_model` opens it in safe mode without kvsf-tune installed.
`kvsf_tune.inference` opens it again for `kvsf-tune evaluate` and `predict`, and
`kvsf_tune.model_card` fills in the card.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from kvsf_tune import records, reliability
from kvsf_tune.data import VOTER_BITS, check_model_name
from kvsf_tune.errors import ExportError, LogDirError, TrialNotFoundError, UsageError
from kvsf_tune.inference import KERAS_FILE_SUFFIXES
from kvsf_tune.model_card import card_path_for, make_card
from kvsf_tune.models import APIS
from kvsf_tune.options import search_command

logger = logging.getLogger(__name__)

FORMATS = ("keras", "savedmodel")
# Name of the voter's input in a SavedModel's serving signature, the functional voter's input name.
VOTER_SERVING_INPUT = "bits"


@dataclass(frozen=True)
class ExportResult:
    """Files written by `export_trial`: the model's path, its card's path and the card itself."""

    path: Path
    card_path: Path
    card: dict

    def summary_line(self) -> str:
        """Return one line naming the model, trial, run, validation accuracy and parameter count."""
        card = self.card
        return (
            f"Exported {card['model']} trial {card['trial_id']} run {card['run']} "
            f"(val accuracy {card['val_accuracy']:.4f}, {card['parameter_count']} parameters, "
            f"{card['format']}), card {self.card_path}"
        )


def export_trial(
    model: str,
    *,
    log_dir: str | Path = "logs",
    project: str | None = None,
    trial_id: str | None = None,
    out: str | Path | None = None,
    format: str = "keras",
    api: str = "sequential",
    allow_unreliable: bool = False,
) -> ExportResult:
    """Export one run of a trained trial as a plain Keras model and write its model card.

    Args:
        model: `"voter"` or `"matcher"`.
        log_dir: Folder that contains the searches. Defaults to `"logs"`.
        project: Search folder under `log_dir`. Defaults to `None`, which uses the model name.
        trial_id: Trial to export. Defaults to `None`: the search's confirmed reliable trial.
        out: Output path. Defaults to `None`: `<log_dir>/<project>/export/<model>_trial_<id>.keras`,
            or a folder ending in `_savedmodel` for the SavedModel format.
        format: `"keras"` (one `.keras` file) or `"savedmodel"` (a TensorFlow SavedModel folder for
            serving). Defaults to `"keras"`.
        api: `"sequential"` or `"functional"`, for the voter only because the matcher is always
            functional. Defaults to `"sequential"`.
        allow_unreliable: Export a completed trial that is not reliable. A failed trial is never
            exported. Defaults to `False`.

    Returns:
        An `ExportResult`.

    Raises:
        UsageError: An unknown model, format or api, or an `out` path that does not fit the format.
        LogDirError: No search, or no completed trial, in the project folder.
        TrialNotFoundError: `trial_id` names no finished trial. The message lists the valid ids.
        ExportError: The trial failed, or is not reliable and `allow_unreliable` is `False`.
    """
    _check_choices(model=model, format=format, api=api)
    project_path = records.project_dir(log_dir, project or model)
    search = _load_search(project_path, model)
    trial_id = _chosen_trial_id(project_path, search, trial_id, allow_unreliable)
    record = _exportable_record(project_path, search, trial_id, allow_unreliable)

    api = api if model == "voter" else "functional"
    path = _output_path(out, project_path, model, trial_id, format)
    return _write_export(project_path, search, trial_id, record, path=path, format=format, api=api)


def choose_run(record: records.TrialRecord) -> reliability.RunRecord:
    """Return the run whose kept restart has the lowest final training loss (first one on a tie)."""
    finite = [run for run in record.runs if math.isfinite(run.train_loss)]
    if not finite:
        raise ExportError(
            f"Trial {record.summary.trial_id} has no run with a finite training loss, so it has no weights "
            "worth exporting. Choose another trial with --trial."
        )
    return min(finite, key=lambda run: (run.train_loss, run.run))


def _check_choices(*, model: str, format: str, api: str) -> None:
    check_model_name(model)
    _check_choice("--format", format, FORMATS)
    _check_choice("--api", api, APIS)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"Invalid {option} {value!r}: expected one of {', '.join(choices)}.")


def _load_search(project: Path, model: str) -> dict:
    records.check_search_is_folder(project)
    if not project.parent.is_dir():
        raise LogDirError(f"Log dir {project.parent} not found. Pass the --logdir of your search.")
    search = records.load_search(project)
    if search.get("model", model) != model:
        raise LogDirError(
            f"The search in {project} is for the {search['model']} model, not {model}. "
            "Pass the matching model or another --project."
        )
    return search


def _default_trial(project: Path, search: dict, allow_unreliable: bool) -> str:
    completed = [r.summary.trial_id for r in records.load_trials(project) if r.summary.status == reliability.COMPLETED]
    if not completed:
        raise LogDirError(f"No completed trial in {project}: every trial failed or none has finished. Run a search first.")

    confirmation = search.get("confirmation") or {}
    if confirmation.get("reliable"):
        return str(confirmation["trial_id"])
    if not allow_unreliable:
        raise ExportError(
            f"{_no_winner_reason(project, search)} Pass --trial ID to export a trial that was reliable in the "
            "search, with --allow-unreliable for any completed trial."
        )

    best = search.get("best") or confirmation.get("trial_id")
    return str(best) if best in completed else _first_ranked(search, completed)


def _chosen_trial_id(project: Path, search: dict, trial_id: str | None, allow_unreliable: bool) -> str:
    """Return the id of the trial to export, padded as its folder name is."""
    if trial_id is None:
        trial_id = _default_trial(project, search, allow_unreliable)
    return _padded_trial_id(project, trial_id)


def _no_winner_reason(project: Path, search: dict) -> str:
    confirmation = search.get("confirmation")
    if confirmation:
        return (
            f"The search in {project} has no confirmed reliable trial: in the confirmation of trial "
            f"{confirmation.get('trial_id')}, {_confirmation_text(confirmation, search)}."
        )
    if search.get("status") == "running":
        return (
            f"The search in {project} has not finished (it was stopped, or it is still running in another "
            f"process) and has no confirmed reliable trial yet. To resume it, run `{search_command(search, project)}`."
        )
    return f"The search in {project} found no reliable trial to confirm."


def _padded_trial_id(project: Path, trial_id: str) -> str:
    # KerasTuner pads trial ids with zeros (`04` in a 16-trial search), so `4` means the same trial.
    if records.trial_dir(project, trial_id).is_dir() or not trial_id.isdigit():
        return trial_id
    for folder in project.glob("trial_*"):
        candidate = folder.name.removeprefix("trial_")
        if candidate.isdigit() and int(candidate) == int(trial_id):
            return candidate
    return trial_id


def _first_ranked(search: dict, completed: list[str]) -> str:
    ranked = [str(trial_id) for trial_id in search.get("trial_ids") or [] if str(trial_id) in completed]
    return ranked[0] if ranked else completed[0]


def _exportable_record(project: Path, search: dict, trial_id: str, allow_unreliable: bool) -> records.TrialRecord:
    folder = records.trial_dir(project, trial_id)
    if not (folder / records.TRIAL_FILE).is_file():
        valid = [r.summary.trial_id for r in records.load_trials(project)]
        raise TrialNotFoundError(
            f"Trial {trial_id!r} not found in {project}. Valid trial ids: {', '.join(valid) or 'none'}."
        )

    record = records.load_trial(folder)
    summary = record.summary
    if summary.status != reliability.COMPLETED:
        raise ExportError(
            f"Trial {trial_id} {summary.status} ({summary.message or 'no reason recorded'}), so it is never "
            "exported, not even with --allow-unreliable. Choose a completed trial with --trial."
        )
    if not allow_unreliable:
        _check_reliable(record, search, _confirmation_of(project, search, trial_id))
    return record


def _check_reliable(record: records.TrialRecord, search: dict, confirmation: dict | None) -> None:
    summary = record.summary
    required = float(search.get("required_pass_rate", reliability.DEFAULT_REQUIRED_PASS_RATE))
    if not reliability.is_reliable(summary, required):
        raise ExportError(
            f"Trial {summary.trial_id} is not reliable: {summary.passes} of {summary.runs} runs passed, pass-rate "
            f"lower bound {summary.pass_rate_lower_bound:.3f} < required pass rate {required}. "
            "Pass --allow-unreliable to export it anyway."
        )
    if confirmation is not None and not confirmation.get("reliable"):
        raise ExportError(
            f"Trial {summary.trial_id} failed its confirmation on fresh seeds: {_confirmation_text(confirmation, search)}. "
            "Pass --allow-unreliable to export it anyway."
        )


def _confirmation_text(confirmation: dict, search: dict) -> str:
    bound = confirmation.get("pass_rate_lower_bound") or 0.0
    return (
        f"{confirmation.get('passes')} of {confirmation.get('runs')} runs passed (pass-rate lower bound {bound:.3f} "
        f"< required pass rate {search.get('required_pass_rate', reliability.DEFAULT_REQUIRED_PASS_RATE)})"
    )


def _confirmation_of(project: Path, search: dict, trial_id: str) -> dict | None:
    """Return the confirmation of a trial from `search.json`, else from its folder, or `None` if it has none."""
    candidates = [search.get("confirmation"), *(search.get("confirmations") or [])]
    for entry in candidates:
        if entry and str(entry.get("trial_id")) == trial_id:
            return {key: entry.get(key) for key in ("runs", "passes", "pass_rate", "pass_rate_lower_bound", "reliable")}

    folder = records.confirmation_dir(project, trial_id)
    if not (folder / records.TRIAL_FILE).is_file():
        return None
    summary = records.load_trial(folder).summary
    required = float(search.get("required_pass_rate", reliability.DEFAULT_REQUIRED_PASS_RATE))
    return {
        "runs": summary.runs,
        "passes": summary.passes,
        "pass_rate": summary.pass_rate,
        "pass_rate_lower_bound": summary.pass_rate_lower_bound,
        "reliable": reliability.is_reliable(summary, required),
    }


def _output_path(out: str | Path | None, project: Path, model: str, trial_id: str, format: str) -> Path:
    if out is None:
        stem = project / "export" / f"{model}_trial_{trial_id}"
        return stem.with_name(stem.name + (".keras" if format == "keras" else "_savedmodel"))

    path = Path(out)
    if format == "keras" and path.suffix != ".keras":
        raise UsageError(f"Invalid --out {path}: --format keras writes a file ending in .keras. Rename it or pass --format savedmodel.")
    if format == "savedmodel" and path.suffix in KERAS_FILE_SUFFIXES:
        raise UsageError(
            f"Invalid --out {path}: --format savedmodel writes a folder, not a {path.suffix} file. "
            "Pass a folder path without that suffix or --format keras."
        )
    return path


def _write_export(
    project: Path, search: dict, trial_id: str, record: records.TrialRecord, *, path: Path, format: str, api: str
) -> ExportResult:
    """Save the chosen run's plain model at `path`, then write its model card beside it."""
    run = choose_run(record)
    plain = _plain_model(records.trial_dir(project, trial_id), record, run, api)
    _save(plain, path, format, record.model)

    confirmation = _confirmation_of(project, search, trial_id)
    card = make_card(record, run, search=search, confirmation=confirmation, plain=plain, path=path, format=format, api=api)
    card_path = card_path_for(path, format)
    records.write_json_atomically(card_path, card)
    # Debug level, because `kvsf-tune export` prints the path and the summary on stdout already.
    logger.debug("Wrote %s and its model card %s", path, card_path)
    return ExportResult(path=path, card_path=card_path, card=card)


def _plain_model(folder: Path, record: records.TrialRecord, run: reliability.RunRecord, api: str):
    from kvsf_tune import replicas

    weights = folder / records.WEIGHTS_FILE
    if not weights.is_file():
        raise ExportError(f"Trial {record.summary.trial_id} has no weights: {weights} is missing. Run the trial again.")
    try:
        bank = replicas.load_bank(record.model, record.replica_seeds, weights)
    except (ValueError, OSError) as error:
        raise ExportError(f"Failed to read the weights of trial {record.summary.trial_id} from {weights}: {error}") from error

    plain = replicas.extract(bank, run.replica, api=api)
    _compile_as_trained(plain, record)
    # A built optimizer saves all its variables, so loading the file does not warn about a mismatch.
    plain.optimizer.build(plain.trainable_variables)
    return plain


def _compile_as_trained(plain, record: records.TrialRecord) -> None:
    """Compile with the trial's optimizer, because `extract` compiles with the exercise's one.

    The saved file then trains on with the setting its card names. The optimizer's slots (momentum,
    Adam's moments) start at zero, because export takes only the run's weights from the bank.
    """
    from kvsf_tune import replicas

    setting = record.setting or record.summary.hyperparameters
    optimizer = replicas.make_optimizer(setting["optimizer"], setting["learning_rate"], setting.get("momentum", 0.0))
    plain.compile(optimizer=optimizer, loss=replicas.LOSSES[record.model], metrics=["accuracy"])


def _save(plain, path: Path, format: str, model: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        logger.info("Overwriting %s", path)
    if format == "keras":
        plain.save(path)
    else:
        plain.export(str(path), format="tf_saved_model", verbose=False, input_signature=_serving_signature(model))


def _serving_signature(model: str) -> list | None:
    """Return the voter's serving input signature, or `None` to keep the one Keras derives.

    Keras names the sequential voter's unnamed input after a counter of the tensors built in the
    process (`keras_tensor`, `keras_tensor_16`, ...), and a SavedModel's `serving_default` signature
    takes that name. A fixed signature names the input `bits` for both voter APIs. The matcher's
    inputs are already named `s1` and `s2`.
    """
    import tensorflow as tf

    if model != "voter":
        return None
    return [tf.TensorSpec((None, VOTER_BITS), tf.float32, name=VOTER_SERVING_INPUT)]
