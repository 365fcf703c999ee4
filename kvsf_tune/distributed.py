"""Searches spread over processes or machines through KerasTuner's gRPC oracle.

KerasTuner 1.4.8 distributes a search with one oracle, the chief, which hands out trials over
gRPC to tuners, the workers. Every process reads and writes the same log dir. KerasTuner reads
each process's part from `KERASTUNER_TUNER_ID` (an id containing "chief" makes the chief),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`.

The chief's oracle is served from the process that runs the search (`--workers N` or
`--role chief`), not through `Tuner.search`. KerasTuner's chief loop waits until every worker it
has seen has received the stop status, so it never returns after a worker died. The chief here
stops once every trial has ended, and then the same process ranks and confirms the trials.

The gRPC channel has neither authentication nor encryption: anyone who can reach the oracle's
port can read the search space and report made-up results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import os
import socket
import time

from kvsf_tune.errors import UsageError

logger = logging.getLogger(__name__)

SINGLE, LOCAL, CHIEF, WORKER = "single", "local", "chief", "worker"
ROLES = (CHIEF, WORKER)
CHIEF_ID = "chief"
LOOPBACK = "127.0.0.1"
ENV_TUNER_ID, ENV_ORACLE_IP, ENV_ORACLE_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"

POLL_SECONDS = 0.5
# Seconds the chief waits, after the last trial ended, for workers to request the next trial and
# receive the stop status. A live worker needs well under a second for that, so one that never
# requests it has died.
IDLE_WORKER_GRACE = 30.0
# Seconds between the chief's reports of the trials it still waits for.
REPORT_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class Role:
    """The part this process plays in a search.

    Attributes:
        kind: `"single"` (one process), `"local"` (serve the oracle and run `workers` worker
            processes on this machine), `"chief"` (serve the oracle to workers elsewhere) or
            `"worker"` (run trials from a chief).
        workers: Worker processes of a `"local"` search.
        host: Address the chief's oracle listens on, or that a worker connects to.
        port: The oracle's port; `0` lets a chief pick a free one.
        tuner_id: KerasTuner's id of this process: `"chief"`, a worker's id, or `"tuner0"`.
    """

    kind: str = SINGLE
    workers: int = 0
    host: str = LOOPBACK
    port: int = 0
    tuner_id: str = "tuner0"

    @property
    def address(self) -> str:
        return join_address(self.host, self.port)

    def environment(self) -> dict[str, str | None]:
        """Return KerasTuner's variables for this role; `None` removes a variable."""
        if self.kind == WORKER:
            return {ENV_TUNER_ID: self.tuner_id, ENV_ORACLE_IP: self.host, ENV_ORACLE_PORT: str(self.port)}
        return {ENV_TUNER_ID: self.tuner_id, ENV_ORACLE_IP: None, ENV_ORACLE_PORT: None}


def parse_role(
    *,
    workers: int | None = None,
    role: str | None = None,
    oracle: str | None = None,
    tuner_id: str | None = None,
    environ: dict[str, str] | None = None,
) -> Role:
    """Return this process's `Role` from the search's options, or else KerasTuner's variables.

    Args:
        workers: `--workers`: worker processes on this machine. Defaults to `None`.
        role: `--role`: `"chief"` or `"worker"`. Defaults to `None`, which reads
            `KERASTUNER_TUNER_ID` when `KERASTUNER_ORACLE_IP` is set and runs one process otherwise.
        oracle: `--oracle HOST:PORT`. Defaults to `KERASTUNER_ORACLE_IP` and `_PORT`.
        tuner_id: `--tuner-id` of a worker. Defaults to `KERASTUNER_TUNER_ID`.
        environ: The environment. Defaults to `os.environ`.

    Raises:
        UsageError: If the options contradict each other or an address or id is invalid.
    """
    environ = os.environ if environ is None else environ
    if workers is not None:
        return _local_role(workers, role, oracle, tuner_id)
    if role is None and ENV_ORACLE_IP in environ:
        role = CHIEF if CHIEF_ID in environ.get(ENV_TUNER_ID, "") else WORKER
    if role is None:
        if oracle is not None or tuner_id is not None:
            raise UsageError("--oracle and --tuner-id need --role chief or --role worker.")
        return Role()
    if role not in ROLES:
        raise UsageError(f"Invalid --role {role!r}: use chief or worker, or --workers N to run both on this machine.")

    host, port = parse_address(oracle or _environment_address(environ, role))
    if role == CHIEF:
        if tuner_id is not None:
            raise UsageError("--tuner-id is for workers; the chief's tuner id is always 'chief'.")
        return Role(CHIEF, host=host, port=port, tuner_id=CHIEF_ID)
    return Role(WORKER, host=host, port=_check_port(port, minimum=1), tuner_id=_worker_id(tuner_id, environ))


def _local_role(workers: int, role: str | None, oracle: str | None, tuner_id: str | None) -> Role:
    if role is not None or oracle is not None or tuner_id is not None:
        raise UsageError(
            "--workers starts its own chief and workers on this machine, so it takes no --role, --oracle or "
            "--tuner-id. Drop --workers to join a search spread over several machines."
        )
    if workers < 1:
        raise UsageError(f"Invalid --workers {workers}: it must be at least 1.")
    return Role(LOCAL, workers=workers, tuner_id=CHIEF_ID)


def _environment_address(environ: dict[str, str], role: str) -> str:
    if ENV_ORACLE_IP not in environ or ENV_ORACLE_PORT not in environ:
        raise UsageError(
            f"--role {role} needs the oracle's address: pass --oracle HOST:PORT, or set {ENV_ORACLE_IP} and "
            f"{ENV_ORACLE_PORT}."
        )
    return join_address(environ[ENV_ORACLE_IP], environ[ENV_ORACLE_PORT])


def _worker_id(tuner_id: str | None, environ: dict[str, str]) -> str:
    tuner_id = tuner_id or environ.get(ENV_TUNER_ID)
    if not tuner_id:
        raise UsageError(
            f"--role worker needs --tuner-id ID (or {ENV_TUNER_ID}), unique per worker, for example tuner1."
        )
    if CHIEF_ID in tuner_id:
        raise UsageError(f"Invalid --tuner-id {tuner_id!r}: KerasTuner treats any id containing 'chief' as the chief.")
    if not all(character.isalnum() or character in "-_." for character in tuner_id):
        raise UsageError(f"Invalid --tuner-id {tuner_id!r}: use letters, digits, '-', '_' and '.', for example tuner1.")
    return tuner_id


def parse_address(address: str) -> tuple[str, int]:
    """Split `HOST:PORT` (or `[IPv6]:PORT`) into its host and port.

    Raises:
        UsageError: If the port is missing or not a number from 0 to 65535.
    """
    host, separator, port = address.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port.isdigit():
        raise UsageError(f"Invalid --oracle {address!r}: use HOST:PORT, for example 10.0.0.5:8000.")
    return host, _check_port(int(port), minimum=0)


def _check_port(port: int, *, minimum: int) -> int:
    if not minimum <= port <= 65535:
        raise UsageError(f"Invalid oracle port {port}: it must be from {minimum} to 65535.")
    return port


def join_address(host: str, port: int | str) -> str:
    """Return `HOST:PORT`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """Return whether every address `host` resolves to is a loopback address (`False` if unresolvable)."""
    try:
        addresses = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(address[4][0].split("%")[0]).is_loopback for address in addresses)


@contextlib.contextmanager
def tuner_environment(role: Role):
    """Set KerasTuner's variables while this process's tuner is created.

    A worker keeps them afterwards, because KerasTuner reads them again during `Tuner.search`. The
    other roles restore the previous values, so a stray `KERASTUNER_ORACLE_IP` cannot turn the
    chief's own oracle into a client of itself.
    """
    role_environment = role.environment()
    saved = {name: os.environ.get(name) for name in role_environment}
    _apply_environment(role_environment)
    try:
        yield
    finally:
        if role.kind != WORKER:
            _apply_environment(saved)


def _apply_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def serve(tuner, options, role: Role) -> None:
    """Serve the tuner's oracle until every trial has ended; a `"local"` role also runs the workers.

    Args:
        tuner: The chief's tuner, whose oracle contains the search's state.
        options: The search's `SearchOptions`.
        role: A `"local"` or `"chief"` role.

    Raises:
        KvsfTuneError: If every local worker failed before the trials were done.
        UsageError: If the oracle cannot listen on the role's address.
    """
    oracle = tuner.oracle
    oracle.verbose = 0
    tuner.save()
    if not has_trials_left(oracle):
        logger.info("Every trial of %s has ended already.", options.project_dir)
        return

    with OracleServer(oracle, role.host, role.port) as server:
        if role.kind == LOCAL:
            from kvsf_tune.workers import WorkerPool

            WorkerPool(options, port=server.port, count=role.workers).run(oracle)
        else:
            _announce_chief(role, server.port)
            wait_until_done(oracle, server)


def has_trials_left(oracle) -> bool:
    """Return whether the oracle still has a trial to hand out (always, without `max_trials`)."""
    # NOTE: `_retry_queue` is private to KerasTuner 1.4.8. It contains the trials interrupted earlier.
    return not oracle.max_trials or len(oracle.trials) < oracle.max_trials or bool(oracle._retry_queue)


def _announce_chief(role: Role, port: int) -> None:
    address = join_address(role.host, port)
    if not is_loopback(role.host):
        logger.warning(
            "Warning: the oracle listens on %s without authentication or encryption; anyone who can reach "
            "that port can read the search space and report results. Use it on a trusted network only.",
            address,
        )
    logger.info(
        "Oracle listening on %s. Start each worker with the same search command plus: "
        "--role worker --oracle %s --tuner-id tuner1 (a different id per worker).",
        address,
        address,
    )


class OracleServer:
    """KerasTuner's gRPC oracle service, served by threads of this process.

    Args:
        oracle: The chief's KerasTuner oracle.
        host: Address to listen on.
        port: Port to listen on; `0` picks a free one, available as `port` afterwards.
    """

    def __init__(self, oracle, host: str, port: int):
        import grpc

        # NOTE: these are KerasTuner 1.4.8's internal modules; pyproject.toml pins keras-tuner < 1.5.
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer

        self.servicer = OracleServicer(oracle)
        # Without SO_REUSEPORT, a second chief on the same port fails instead of sharing it.
        self._server = grpc.server(_thread_pool(), options=[("grpc.so_reuseport", 0)])
        protos.get_service_grpc().add_OracleServicer_to_server(self.servicer, self._server)
        self.port = self._bind(host, port)

    def _bind(self, host: str, port: int) -> int:
        address = join_address(host, port)
        try:
            bound = self._server.add_insecure_port(address)
        except RuntimeError as error:
            raise UsageError(f"Cannot serve the oracle on {address}: {error}. Pass another --oracle port.") from None
        if not bound:
            raise UsageError(f"Cannot serve the oracle on {address}: the port is in use or the address is not local.")
        return bound

    def __enter__(self) -> OracleServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.stop(grace=1.0).wait()


def _thread_pool():
    from concurrent import futures

    # KerasTuner's oracle methods take one lock, so more threads would only wait for it.
    return futures.ThreadPoolExecutor(max_workers=1)


def wait_until_done(oracle, server: OracleServer) -> None:
    """Block until every trial has ended and the live workers have received the stop status."""
    idle_since = None
    last_report = time.monotonic()
    while True:
        time.sleep(POLL_SECONDS)
        if not server.servicer.stop_triggered or oracle.ongoing_trials:
            idle_since = None
            last_report = _report_waiting(oracle, server, last_report)
            continue
        # Copies, because the server's thread changes these collections.
        waiting = sorted(set(oracle.tuner_ids))
        if not waiting:
            return
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > IDLE_WORKER_GRACE:
            logger.info("Stopping the oracle; workers %s never requested another trial.", ", ".join(waiting))
            return


def _report_waiting(oracle, server: OracleServer, last_report: float) -> float:
    if not server.servicer.stop_triggered or time.monotonic() - last_report < REPORT_SECONDS:
        return last_report
    for tuner_id, trial in sorted(dict(oracle.ongoing_trials).items()):
        logger.info(
            "Waiting for trial %s on worker %s. If that worker died, start it again with --tuner-id %s; "
            "it trains the trial again.",
            trial.trial_id,
            tuner_id,
            tuner_id,
        )
    return time.monotonic()


def end_trial_as_failed(oracle, trial_id: str, message: str) -> None:
    """End a running trial as failed, so the oracle stops waiting for it."""
    from keras_tuner.src.engine import trial as trial_module

    trial = oracle.get_trial(trial_id)
    failed = trial_module.Trial(
        trial.hyperparameters, trial_id=trial_id, status=trial_module.TrialStatus.FAILED, message=message
    )
    oracle.end_trial(failed)
