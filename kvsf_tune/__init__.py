"""kvsf-tune: find training settings that reliably reach a target accuracy.

Importing this package is cheap: TensorFlow, Keras and KerasTuner load only when a function that
trains, reads or writes models is called.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "search"]


def search(model: str, **options):
    """Run (or resume) a reliability search and return its `SearchResult`.

    The keyword arguments are the `kvsf-tune search` options in Python form: `space`, `runs`,
    `target`, `required_pass_rate`, `tuner`, `max_trials`, `seed`, `log_dir` (the CLI's
    `--logdir`), `project`, `overwrite`, `data_seed` and `confirmation_runs`.
    `kvsf_tune.options.SearchOptions` describes each one and its default.

    Example:
        >>> result = kvsf_tune.search("matcher", max_trials=8, log_dir="logs/notebook")
        >>> result.best, result.reliable
    """
    from kvsf_tune.tuning import search as run_search

    return run_search(model, **options)
