"""Worker processes of `kvsf-tune search --workers N` on one machine.

`WorkerPool` starts each worker as `python -m kvsf_tune.workers` with the search's options, a
tuner id and the address of the oracle that the `search` process serves on 127.0.0.1. The pool
shows the workers' output on stderr, prefixed by their tuner ids, and starts a dead worker again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kvsf_tune.distributed import LOOPBACK, POLL_SECONDS, WORKER, Role, end_trial_as_failed, join_address, parse_address
from kvsf_tune.errors import EXIT_INTERRUPTED, EXIT_OK, KvsfTuneError

logger = logging.getLogger(__name__)

# How often a dead worker is started again, with the same tuner id, before its trial fails.
MAX_WORKER_RESTARTS = 2
# Seconds a worker gets to stop after SIGINT before it is killed.
STOP_TIMEOUT = 15.0
# TensorFlow sizes its thread pools from these variables when it starts.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


@dataclasses.dataclass
class _Worker:
    """One local worker process, its restart count and its state."""

    tuner_id: str
    process: subprocess.Popen
    restarts: int = 0
    state: str = "running"


class WorkerPool:
    """Worker processes on this machine for one search; a dead worker is started again.

    A worker started again with its old tuner id gets its unfinished trial back from the oracle.
    After `max_restarts` restarts, its trial is ended as failed and the others go on.

    Args:
        options: The search's `SearchOptions`.
        port: Port of the oracle on 127.0.0.1.
        count: Number of workers, with tuner ids `tuner0` to `tuner<count - 1>`.
        max_restarts: Restarts allowed per worker. Defaults to `MAX_WORKER_RESTARTS`.
    """

    def __init__(self, options, *, port: int, count: int, max_restarts: int = MAX_WORKER_RESTARTS):
        self.options = dataclasses.replace(options, overwrite=False, log_dir=Path(options.log_dir).absolute())
        self.port = port
        self.count = count
        self.max_restarts = max_restarts
        self.workers: list[_Worker] = []
        self._readers: list[threading.Thread] = []

    def run(self, oracle) -> None:
        """Start the workers and return when all have exited.

        Raises:
            KvsfTuneError: If no worker finished its part, so trials may be left.
            KeyboardInterrupt: If this process or a worker was interrupted; every worker is stopped.
        """
        logger.info("Starting %d workers for the oracle on %s.", self.count, join_address(LOOPBACK, self.port))
        try:
            for index in range(self.count):
                self.workers.append(_Worker(f"tuner{index}", self._start(f"tuner{index}")))
            while any(worker.state == "running" for worker in self.workers):
                time.sleep(POLL_SECONDS)
                self._check(oracle)
        except BaseException:
            self._stop()
            raise
        finally:
            for reader in self._readers:
                reader.join(timeout=5.0)

        if not any(worker.state == "finished" for worker in self.workers):
            raise KvsfTuneError(
                f"Every worker failed before the search was done; the finished trials are kept in "
                f"{self.options.project_dir}. See the workers' messages above, then run the same command again."
            )

    def _check(self, oracle) -> None:
        for worker in self.workers:
            code = worker.process.poll() if worker.state == "running" else None
            if code is None:
                continue
            if code == EXIT_OK:
                worker.state = "finished"
            elif code in (EXIT_INTERRUPTED, -signal.SIGINT):
                raise KeyboardInterrupt
            else:
                self._replace(worker, code, oracle)

    def _replace(self, worker: _Worker, code: int, oracle) -> None:
        trial = oracle.ongoing_trials.get(worker.tuner_id)
        where = f"during trial {trial.trial_id}" if trial is not None else "between trials"
        if worker.restarts < self.max_restarts:
            worker.restarts += 1
            logger.warning(
                "Worker %s exited with code %s %s; starting it again (restart %d of %d).",
                worker.tuner_id, code, where, worker.restarts, self.max_restarts,
            )
            worker.process = self._start(worker.tuner_id)
            return

        worker.state = "failed"
        logger.error("Worker %s exited with code %s %s and has no restarts left.", worker.tuner_id, code, where)
        if trial is not None:
            times = worker.restarts + 1
            message = f"Worker {worker.tuner_id} exited with code {code} during this trial, {times} times."
            end_trial_as_failed(oracle, trial.trial_id, message)

    def _start(self, tuner_id: str) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "kvsf_tune.workers", json.dumps(options_to_json(self.options)),
            "--oracle", join_address(LOOPBACK, self.port), "--tuner-id", tuner_id,
            "--parent-pid", str(os.getpid()), *_verbosity_flags(),
        ]
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=worker_environment(self.count), text=True, errors="replace", bufsize=1,
        )
        reader = threading.Thread(target=_forward_lines, args=(process.stdout, tuner_id), daemon=True)
        reader.start()
        self._readers.append(reader)
        logger.debug("Started worker %s as process %d.", tuner_id, process.pid)
        return process

    def _stop(self) -> None:
        """Ask every running worker to stop with SIGINT, then kill the ones that do not."""
        running = [worker.process for worker in self.workers if worker.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("Worker process %d did not stop within %.0f s; killing it.", process.pid, STOP_TIMEOUT)
                process.kill()
                process.wait()


def worker_environment(count: int) -> dict[str, str]:
    """Return the environment of a local worker, with the cores shared out between the workers.

    Each TensorFlow process sizes its thread pools to every core by default, so several workers on
    one machine would oversubscribe it. A thread count set in the environment is kept.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    environment = dict(os.environ)
    for name in THREAD_VARIABLES:
        environment.setdefault(name, str(max(1, cores // count)))
    return environment


def _verbosity_flags() -> list[str]:
    level = logging.getLogger("kvsf_tune").getEffectiveLevel()
    if level <= logging.DEBUG:
        return ["--verbose"]
    return ["--quiet"] if level >= logging.WARNING else []


def _forward_lines(stream, tuner_id: str) -> None:
    """Log a worker's output lines prefixed by its tuner id, keeping this process's stdout clean."""
    # A quiet worker prints only warnings and errors; show them in a quiet parent too.
    level = max(logging.INFO, logging.getLogger("kvsf_tune").getEffectiveLevel())
    with stream:
        for line in stream:
            if line.strip():
                logger.log(level, "[%s] %s", tuner_id, line.rstrip())


def options_to_json(options) -> dict:
    """Return `SearchOptions` as JSON-ready values, paths as strings."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in dataclasses.asdict(options).items()}


def options_from_json(data: dict):
    """Return the `SearchOptions` that `options_to_json` wrote."""
    from kvsf_tune.options import SearchOptions

    return SearchOptions(**{**data, "space": Path(data["space"]), "log_dir": Path(data["log_dir"])})


class LogProgress:
    """Progress reporter that logs a worker's trials; the parent shows each line prefixed by the tuner id."""

    def search_started(self, max_trials: int, finished_trials: int) -> None:
        pass

    def trial_started(self, trial_id: str, setting: dict, *, confirmation: bool = False) -> None:
        from kvsf_tune.progress import describe

        logger.info("trial %s started (%s)", trial_id, describe(setting))

    def epoch_callback(self):
        import keras

        return keras.callbacks.Callback()

    def trial_finished(self, summary) -> None:
        logger.info(
            "trial %s: %d/%d runs passed, lower bound %.3f, %.1f s",
            summary.trial_id, summary.passes, summary.runs, summary.pass_rate_lower_bound, summary.fit_seconds,
        )


def _exit_with_parent(parent_pid: int) -> None:
    """Exit this worker when the process that started it ends, even by SIGKILL."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        logger.warning("The search process %d ended; this worker stops too.", parent_pid)
        os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Run one local worker process of `kvsf-tune search --workers N`; `WorkerPool` starts it."""
    from kvsf_tune import console

    parser = argparse.ArgumentParser(prog="python -m kvsf_tune.workers", description=main.__doc__)
    parser.add_argument("options", help="The search's options as JSON, as options_to_json writes them.")
    parser.add_argument("--oracle", required=True, help="The chief's HOST:PORT.")
    parser.add_argument("--tuner-id", required=True, help="This worker's KerasTuner id.")
    parser.add_argument("--parent-pid", type=int, default=None, help="Exit when this process ends.")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    console.configure(verbose=args.verbose, quiet=args.quiet)
    # The pool stops workers with SIGINT, which a shell may have set to be ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid)
    console.load_tensorflow(console.Settings(verbose=args.verbose, quiet=args.quiet))
    return _run_worker(json.loads(args.options), args.oracle, args.tuner_id)


def _run_worker(options: dict, oracle: str, tuner_id: str) -> int:
    from kvsf_tune import tuning

    host, port = parse_address(oracle)
    role = Role(WORKER, host=host, port=port, tuner_id=tuner_id)
    try:
        tuning.run(options_from_json(options), progress=LogProgress(), role=role)
    except KvsfTuneError as error:
        logger.error("Error: %s", error)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    # Run the copy imported as `kvsf_tune.workers`, so loggers and classes have their usual names.
    from kvsf_tune.workers import main as _main

    sys.exit(_main())
