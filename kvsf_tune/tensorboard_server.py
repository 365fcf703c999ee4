"""The `kvsf-tune tensorboard` server: option checks and TensorBoard's own server in a child process.

It uses the standard library only, so the CLI imports it without TensorFlow. TensorBoard's child
process imports TensorFlow itself.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from kvsf_tune.errors import KvsfTuneError, LogDirError, UsageError
from kvsf_tune.records import SEARCH_FILE, check_log_dir_is_folder

logger = logging.getLogger(__name__)

# TensorFlow's C++ info and warning lines. TensorBoard's child process prints them when it imports
# TensorFlow, whatever the value of TF_CPP_MIN_LOG_LEVEL (seen with TensorFlow 2.21).
_TENSORFLOW_NOISE = re.compile(r"[IW]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::InitializeLog")

# Seconds to wait for TensorBoard to exit after it is asked to stop, before killing it.
STOP_TIMEOUT = 10.0


def tensorboard_command(log_dir: Path, *, port: int, host: str) -> list[str]:
    """Return the argv that starts TensorBoard's own server on `log_dir` with this Python."""
    return [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--port", str(port), "--host", host]


def server_url(host: str, port: int) -> str:
    """Return the address to open in a browser, with an IPv6 host in brackets."""
    address = f"[{host}]" if ":" in host else host
    return f"http://{address}:{port}/"


def check_server_options(log_dir: Path, *, port: int, host: str) -> Path:
    """Check the `tensorboard` command's options before TensorBoard starts.

    Logs a warning when `host` is not a loopback address, because then other machines can reach
    the dashboards.

    Returns:
        The log dir as a `Path`.

    Raises:
        LogDirError: If `log_dir` is missing or is a file.
        UsageError: If `port` is outside 1-65535, `host` cannot be resolved, or the port cannot be
            bound on `host` (for example because it is already in use).
    """
    folder = Path(log_dir)
    if not folder.exists():
        raise LogDirError(f"Log dir {folder} does not exist. Run `kvsf-tune search` first or pass --logdir.")
    check_log_dir_is_folder(folder)
    if not 1 <= port <= 65535:
        raise UsageError(f"Invalid --port {port}: expected a TCP port from 1 to 65535.")

    addresses = _resolve(host, port)
    _check_bindable(addresses, host, port)
    if not is_loopback(addresses):
        logger.warning("Warning: --host %s is not a loopback address, so other machines can open TensorBoard.", host)
    _warn_on_several_searches(folder)
    return folder


def _resolve(host: str, port: int) -> list[tuple]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UsageError(f"Invalid --host {host!r}: {error.strerror}. Pass an address such as 127.0.0.1.") from None


def is_loopback(addresses: list[tuple]) -> bool:
    """Return whether every `socket.getaddrinfo` result is a loopback address."""
    return all(ipaddress.ip_address(address[4][0]).is_loopback for address in addresses)


def _check_bindable(addresses: list[tuple], host: str, port: int) -> None:
    """Bind every address of `host` once; TensorBoard would fail later on the same error."""
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            # Servers set this option too, so a port left in TIME_WAIT counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise UsageError(_bind_message(host, port, error)) from None


def _bind_message(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"Port {port} on {host} is already in use. Stop the program using it or pass another --port."
    return f"Cannot listen on {host}:{port}: {error.strerror}. Pass another --host or --port."


def _warn_on_several_searches(folder: Path) -> None:
    searches = sorted(child.name for child in folder.iterdir() if (child / SEARCH_FILE).is_file())
    if len(searches) > 1:
        logger.warning(
            "Warning: %s contains %d searches (%s). The HParams dashboard takes its columns from one "
            "of them. Pass --logdir %s to see one search.",
            folder,
            len(searches),
            ", ".join(searches),
            folder / searches[0],
        )


def serve(log_dir: Path, *, port: int, host: str, verbose: bool = False) -> None:
    """Run TensorBoard in a child process until it exits or Ctrl-C (or SIGTERM) stops it.

    TensorBoard's messages go to stderr. TensorFlow's C++ start-up lines among them are dropped
    unless `verbose`.

    Args:
        log_dir: Folder TensorBoard reads.
        port: TCP port to serve on.
        host: Address to bind.
        verbose: Pass TensorFlow's start-up lines through. Defaults to `False`.

    Raises:
        KvsfTuneError: If TensorBoard exits by itself with a non-zero code.
    """
    argv = tensorboard_command(log_dir, port=port, host=host)
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, errors="replace")
    forwarder = threading.Thread(target=_forward_messages, args=(process.stderr, verbose), daemon=True)
    forwarder.start()
    logger.debug("Started TensorBoard, process %d: %s", process.pid, " ".join(argv))
    try:
        with _sigterm_as_interrupt():
            code = process.wait()
    except KeyboardInterrupt:
        _stop(process)
        code = None  # Stopped by Ctrl-C or SIGTERM rather than by TensorBoard itself.
    finally:
        # TensorBoard's last messages go out before the stop notice, which is then the last line.
        forwarder.join(timeout=STOP_TIMEOUT)

    if code is None:
        logger.info("%sStopped TensorBoard.", _line_break_after_ctrl_c())
    elif code != 0:
        raise KvsfTuneError(f"TensorBoard exited with code {code}. Its messages on stderr above give the reason.")


def _line_break_after_ctrl_c() -> str:
    # A terminal echoes Ctrl-C as `^C` without a line break, so the notice starts a line of its own.
    return "\n" if sys.stderr.isatty() else ""


def _forward_messages(stream, verbose: bool) -> None:
    for line in stream:
        if verbose or not _TENSORFLOW_NOISE.match(line):
            sys.stderr.write(line)
            sys.stderr.flush()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.warning("TensorBoard (process %d) did not stop within %.0f s; killing it.", process.pid, STOP_TIMEOUT)
        process.kill()
        process.wait()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into `KeyboardInterrupt` meanwhile, so a terminated CLI still stops TensorBoard."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
