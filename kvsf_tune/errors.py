"""The exception hierarchy of kvsf-tune.

Library code raises these; only the CLI turns them into a one-line message on stderr and an exit
code, so notebook users get ordinary exceptions.
"""

from __future__ import annotations

# Exit codes of the `kvsf-tune` command; the README lists them too.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_RELIABLE = 3
EXIT_INTERRUPTED = 130


class KvsfTuneError(Exception):
    """Base class of every error kvsf-tune raises on purpose."""

    exit_code = EXIT_FAILURE


class UsageError(KvsfTuneError):
    """An invalid command-line option or argument value."""

    exit_code = EXIT_USAGE


class SearchSpaceError(UsageError):
    """An invalid or unreadable search-space file."""


class LogDirError(KvsfTuneError):
    """A log dir that is missing, unusable, or contains no usable search."""

    exit_code = EXIT_USAGE


class TrialNotFoundError(LogDirError):
    """A trial id that the search does not contain."""


class ExportError(KvsfTuneError):
    """A trial that cannot be exported (failed, diverged or not reliable)."""

    exit_code = EXIT_USAGE


class NoReliableSettingError(KvsfTuneError):
    """A search that ended without a confirmed reliable setting."""

    exit_code = EXIT_NOT_RELIABLE
