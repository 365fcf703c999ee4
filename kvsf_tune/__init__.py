"""kvsf-tune: find training settings that reliably reach a target accuracy.

Importing this package is cheap: TensorFlow, Keras and KerasTuner load only when a function that
trains, reads or writes models is called.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "search"]


def search(model: str, **options):
    """Run a reliability search; see `kvsf_tune.tuning.search` for the options."""
    from kvsf_tune.tuning import search as run_search

    return run_search(model, **options)
