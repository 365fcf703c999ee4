"""Progress of a search on stderr: a bar over trials and one over the current trial's epochs."""

from __future__ import annotations

import sys


class SearchProgress:
    """Shows a search's progress on stderr with `rich`, which Typer already depends on.

    Args:
        enabled: Draw the bars; when `False` every method does nothing. Defaults to `True`.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._progress = None
        self._trials = None
        self._epochs = None
        self._confirming = False

    def __enter__(self) -> SearchProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(file=sys.stderr, log_path=False)
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=not console.is_terminal,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()

    def search_started(self, max_trials: int, finished_trials: int) -> None:
        if self._progress is None:
            return
        self._trials = self._progress.add_task("trials", total=max_trials or None, completed=finished_trials)

    def trial_started(self, trial_id: str, setting: dict, *, confirmation: bool = False) -> None:
        if self._progress is None:
            return
        self._confirming = confirmation
        label = f"confirming trial {trial_id}" if confirmation else f"trial {trial_id}"
        if self._epochs is not None:
            self._progress.remove_task(self._epochs)
        self._epochs = self._progress.add_task(f"  {label} epochs", total=int(setting["epochs"]))

    def epoch_callback(self):
        """Return a Keras callback that advances the epochs bar."""
        import keras

        progress = self

        class _EpochBar(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if progress._progress is not None and progress._epochs is not None:
                    progress._progress.advance(progress._epochs)

        return _EpochBar()

    def trial_finished(self, summary) -> None:
        if self._progress is None:
            return
        if self._trials is not None and not self._confirming:
            self._progress.advance(self._trials)
        label = f"confirmation of trial {summary.trial_id}" if self._confirming else f"trial {summary.trial_id}"
        self._progress.console.log(
            f"{label} ({describe(summary.hyperparameters)}): {summary.passes}/{summary.runs} runs passed, "
            f"lower bound {summary.pass_rate_lower_bound:.3f}, {summary.fit_seconds:.1f} s"
        )


def describe(hyperparameters: dict) -> str:
    """Return a short one-line description of a setting, for example `adam lr=0.01 batch=32`."""
    names = {"learning_rate": "lr", "batch_size": "batch", "momentum": "momentum", "epochs": "epochs", "restarts": "restarts"}
    parts = [str(hyperparameters.get("optimizer", "?"))]
    for name, short in names.items():
        if name in hyperparameters:
            value = hyperparameters[name]
            parts.append(f"{short}={value:.3g}" if isinstance(value, float) else f"{short}={value}")
    return " ".join(parts)

