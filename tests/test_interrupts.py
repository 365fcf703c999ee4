"""Ctrl-C that Python swallows in a `__del__` method still stops a search at the next boundary."""

from __future__ import annotations

import signal
import sys

import pytest

from kvsf_tune import interrupts


class InterruptedWhileDeleted:
    """An object whose `__del__` receives SIGINT, as a TensorFlow finalizer may."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)


@pytest.fixture(autouse=True)
def default_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_python_swallows_interrupt_in_del():
    reached = False

    InterruptedWhileDeleted()
    reached = True

    assert reached


def test_swallowed_interrupt_raised_at_boundary():
    reached = False

    with pytest.raises(KeyboardInterrupt):
        with interrupts.recorded_interrupts():
            InterruptedWhileDeleted()
            reached = True
            interrupts.raise_if_interrupted()

    assert reached


class FailsWhileDeleted:
    def __del__(self):
        raise ValueError("from __del__")


def test_swallowed_interrupt_not_reported(monkeypatch):
    reported = []

    def record(unraisable):
        reported.append(type(unraisable.exc_value))

    monkeypatch.setattr(sys, "unraisablehook", record)

    with interrupts.recorded_interrupts():
        InterruptedWhileDeleted()
        FailsWhileDeleted()

    assert reported == [ValueError]
    assert sys.unraisablehook is record


def test_no_interrupt_no_raise():
    with interrupts.recorded_interrupts():
        interrupts.raise_if_interrupted()

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_record_cleared_by_next_search():
    with pytest.raises(KeyboardInterrupt):
        with interrupts.recorded_interrupts():
            signal.raise_signal(signal.SIGINT)

    with interrupts.recorded_interrupts():
        interrupts.raise_if_interrupted()


def test_record_ends_with_block():
    with interrupts.recorded_interrupts():
        InterruptedWhileDeleted()

    try:
        interrupts.raise_if_interrupted()
    except KeyboardInterrupt:
        pytest.fail("an interrupt recorded in an ended block was raised after it")


def test_ignored_sigint_stays_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    with interrupts.recorded_interrupts():
        signal.raise_signal(signal.SIGINT)
        interrupts.raise_if_interrupted()

    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
