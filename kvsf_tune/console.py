"""Console set-up for the CLI: logging levels and silencing TensorFlow's start-up noise.

TensorFlow prints a oneDNN notice, CUDA-not-found lines and absl warnings when it is imported.
They must be silenced through environment variables before the first import, so the CLI calls
`configure` before any command runs.
"""

from __future__ import annotations

import logging
import os
import warnings

# C++ log level 3 hides TensorFlow's INFO, WARNING and ERROR start-up lines (oneDNN, CUDA, cuDNN).
_QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}


def configure(*, verbose: bool = False, quiet: bool = False) -> None:
    """Set log levels for a CLI run.

    Args:
        verbose: Show debug logs and TensorFlow's own messages. Defaults to `False`.
        quiet: Show warnings and errors only. Defaults to `False`.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    logging.getLogger("kvsf_tune").setLevel(level)
    if verbose:
        return

    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "keras_tuner", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def silence_tensorflow_python_logs() -> None:
    """Silence TensorFlow's and absl's Python loggers once TensorFlow is imported."""
    try:
        import absl.logging
    except ImportError:
        return
    absl.logging.set_verbosity(absl.logging.ERROR)
