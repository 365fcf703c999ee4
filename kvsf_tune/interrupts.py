"""Ctrl-C during a search: an interrupt that is never lost.

Python raises `KeyboardInterrupt` at whatever line the main thread runs when SIGINT arrives. When
that line is inside a weakref callback or a `__del__` method, Python prints "Exception ignored in
..." and carries on, so the search would finish as if nothing had happened. This was observed with
a `WeakKeyDictionary` callback that ran during a trial. While a search runs, the SIGINT handler here also records the signal, and the tuner
calls `raise_if_interrupted` at every epoch and trial boundary, where nothing swallows the exception.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

# SIGINT is delivered to the process, so its record is process-wide too.
_received = threading.Event()


@contextlib.contextmanager
def recorded_interrupts() -> Iterator[None]:
    """Record SIGINT while the block runs, besides raising `KeyboardInterrupt` as Python does.

    The handler is only installed in the main thread (the only one Python lets install one) and
    only when SIGINT is handled the default way. A process that ignores SIGINT, such as a
    background job of a shell, keeps ignoring it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    _received.clear()
    signal.signal(signal.SIGINT, _record_and_raise)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_swallowed_interrupt(previous_hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.unraisablehook = previous_hook
        _received.clear()


def raise_if_interrupted() -> None:
    """Raise `KeyboardInterrupt` if SIGINT arrived in the active `recorded_interrupts` block.

    Raises:
        KeyboardInterrupt: If a SIGINT was recorded, even one whose first exception was swallowed.
    """
    if _received.is_set():
        raise KeyboardInterrupt


def _quiet_swallowed_interrupt(previous_hook):
    """Wrap `sys.unraisablehook` so that a swallowed `KeyboardInterrupt` prints no traceback.

    The interrupt is recorded and raised again at the next boundary, so the "Exception ignored"
    report would only be noise. Other unraisable exceptions go to `previous_hook`.
    """

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        previous_hook(unraisable)

    return hook


def _record_and_raise(signum: int, frame) -> None:
    _received.set()
    raise KeyboardInterrupt
