"""Console set-up for the CLI: logging levels and silencing TensorFlow's start-up noise.

TensorFlow prints a oneDNN notice, CUDA-not-found lines and absl warnings when it is imported.
They must be silenced through environment variables before the first import, so the CLI calls
`configure` before any command runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass

# C++ log level 3 hides TensorFlow's INFO, WARNING and ERROR start-up lines (oneDNN, CUDA, cuDNN).
_QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
# Python loggers that are quiet (errors only) unless the output is verbose.
_NOISY_LOGGERS = ("tensorflow", "absl", "keras_tuner", "h5py")


def configure(*, verbose: bool = False, quiet: bool = False) -> None:
    """Set log levels for a CLI run.

    Args:
        verbose: Show debug logs and TensorFlow's own messages. Defaults to `False`.
        quiet: Show warnings and errors only. Defaults to `False`.
    """
    level = logging.INFO
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.WARNING
    _install_handler(level)
    logging.getLogger("kvsf_tune").setLevel(level)

    # A second call in the same process (tests, notebooks) must undo the first one's levels.
    library_level = logging.NOTSET if verbose else logging.ERROR
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    if verbose:
        return

    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")


class _StderrHandler(logging.StreamHandler):
    """A log handler that writes to whatever `sys.stderr` is when a record is emitted.

    `logging.basicConfig` binds the stream once, so a later `CliRunner` or `capsys` capture of
    stderr would miss the logs, and a closed capture stream would raise on the next record.
    """

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        # `StreamHandler.__init__` assigns the stream; the property always reads sys.stderr.
        pass


def _install_handler(level: int) -> None:
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, _StderrHandler)]:
        root.removeHandler(handler)

    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def silence_tensorflow_python_logs() -> None:
    """Silence TensorFlow's and absl's Python loggers once TensorFlow is imported."""
    try:
        import absl.logging
    except ImportError:
        return
    absl.logging.set_verbosity(absl.logging.ERROR)


@dataclass(frozen=True)
class Settings:
    """The CLI's global output options, kept on the Typer context as `ctx.obj`."""

    verbose: bool = False
    quiet: bool = False


def load_tensorflow(settings: Settings | None = None) -> None:
    """Import TensorFlow and Keras, hiding what their C++ start-up prints unless verbose.

    Some start-up lines (the oneDNN notice, CUDA-not-found) are written to file descriptor 2 before
    TensorFlow's log level applies, so the descriptor itself is pointed at /dev/null meanwhile.
    """
    if settings is not None and settings.verbose:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        return

    with _stderr_silenced():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    silence_tensorflow_python_logs()


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
