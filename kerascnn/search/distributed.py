"""Distributed search on keras-tuner's own engine: one chief oracle, workers over gRPC.

keras-tuner reads three environment variables: ``KERASTUNER_TUNER_ID``
(``chief`` for the oracle, any other id for a worker),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``. ``kerascnn search
--chief HOST:PORT`` and ``--worker HOST:PORT --worker-id N`` set them; setting
them yourself works the same.

The chief serves keras-tuner's ``OracleServicer`` (candidates are checked for
geometry and budget there, once for all workers) with one addition: a
watchdog. A worker that has not reported for ``worker_timeout`` seconds is
reported, its running trial is marked failed, and the chief stops waiting
for it; a worker restarted with the same id before then gets its unfinished
trial back, as in keras-tuner.

Long searches: ``--recycle-after N`` makes a worker exit after N trials with
status 75, once it has been handed its next trial; restarted with the same id
(``tools/workers_per_gpu.sh`` does it), it gets that trial back in a fresh
process. This bounds what TensorFlow keeps per process, such as XLA's
compilation cache (see :mod:`kerascnn.memory`).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent import futures

from kerascnn.validation import check_int, invalid

ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
ENV_RECYCLE = "KERASCNN_RECYCLE_AFTER"
RECYCLE_EXIT_CODE = 75  # EX_TEMPFAIL: "run me again"; tools/workers_per_gpu.sh restarts on it


class WorkerRecycled(Exception):
    """A worker ran its ``--recycle-after`` trials and exits so that a fresh process replaces it."""


def parse_address(text: str, arg: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"`` -> ``("127.0.0.1", 8000)``."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise invalid(arg, text, "HOST:PORT, e.g. 127.0.0.1:8000")
    return host, int(port)


def set_role(
    chief: str | None = None, worker: str | None = None, worker_id=None, recycle_after: int | None = None
) -> str | None:
    """Set keras-tuner's environment for a chief or a worker; return the role (or ``None``).

    ``recycle_after``: a worker exits (status :data:`RECYCLE_EXIT_CODE`) after
    that many trials, so a supervisor restarts it with fresh memory.
    """
    if recycle_after is not None:
        if not worker:
            raise ValueError("--recycle-after applies to a worker: add --worker HOST:PORT --worker-id N")
        os.environ[ENV_RECYCLE] = str(check_int("--recycle-after", recycle_after))
    if chief and worker:
        raise ValueError("Use --chief or --worker, not both: the chief only serves the oracle")
    if chief:
        host, port = parse_address(chief, "--chief")
        check_port_free(host, port)
        os.environ.update({ENV_ID: "chief", ENV_IP: host, ENV_PORT: str(port)})
    elif worker:
        host, port = parse_address(worker, "--worker")
        if worker_id is None:
            raise ValueError("--worker needs --worker-id N (restart a worker with the same id to resume its trial)")
        os.environ.update({ENV_ID: f"tuner{worker_id}", ENV_IP: host, ENV_PORT: str(port)})
    elif worker_id is not None:
        raise ValueError("--worker-id needs --worker HOST:PORT")
    return role()


def check_port_free(host: str, port: int) -> None:
    """Refuse (``ValueError``, before any data are read) a chief address another program already listens on."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise ValueError(f"--chief {host}:{port}: cannot resolve {host!r} ({err.strerror or err})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)  # no SO_REUSEADDR, as gRPC's own bind: a listener on the port is found
        except OSError as err:
            raise ValueError(
                f"--chief {host}:{port}: the port cannot be served ({err.strerror or err}); another chief or "
                "program may be listening there. Choose another port (workers then use --worker with it)."
            ) from None


def role() -> str | None:
    """``"chief"``, ``"worker"`` or ``None`` (a single-process search), from the environment."""
    if ENV_IP not in os.environ:
        return None
    if ENV_PORT not in os.environ or ENV_ID not in os.environ:
        raise ValueError(
            f"{ENV_IP} is set, so {ENV_PORT} and {ENV_ID} must be set too (keras-tuner's distributed mode)"
        )
    return "chief" if "chief" in os.environ[ENV_ID] else "worker"


def recycle_after() -> int | None:
    """Trials a worker runs before it exits to be restarted (``KERASCNN_RECYCLE_AFTER``), or None."""
    value = os.environ.get(ENV_RECYCLE)
    if not value:
        return None
    return check_int(ENV_RECYCLE, int(value) if value.isdigit() else value)


def wait_for_chief(timeout: float, printer=print) -> None:
    """Block until the chief's port accepts connections (workers may start first)."""
    import socket

    host, port = os.environ[ENV_IP], int(os.environ[ENV_PORT])
    deadline, said = time.monotonic() + timeout, False
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"No chief answered at {host}:{port} within {timeout:.0f}s "
                    "(start it with kerascnn search CONFIG --chief HOST:PORT)"
                ) from None
            if not said:
                printer(f"worker: waiting for the chief at {host}:{port} ...")
                said = True
            time.sleep(0.5)


def serve(oracle, worker_timeout: float, printer=print, poll: float = 0.5, on_trial_end=None) -> dict:
    """Serve ``oracle`` to the workers until the search is over; return what happened.

    Ends when every trial is done and every worker has been told to stop, or
    when the workers that are left have been silent for ``worker_timeout``
    seconds (each is reported; a trial one was running is marked FAILED).
    """
    import grpc

    from kerascnn import _compat

    servicer_class, add_servicer_to_server = _compat.oracle_servicer()
    watchdog = _Watchdog(oracle, worker_timeout, printer, on_trial_end)
    host, port = os.environ[ENV_IP], os.environ[ENV_PORT]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = _watched(servicer_class, watchdog)(oracle)
    add_servicer_to_server(servicer, server)
    try:
        server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as err:  # taken between the check at start-up and now
        raise ValueError(f"--chief {host}:{port}: the port cannot be served ({err}); choose another port") from None
    server.start()
    printer(
        f"chief: oracle serving on {host}:{port}; start workers with "
        f"kerascnn search CONFIG --worker {host}:{port} --worker-id N"
    )
    try:
        while not watchdog.finished(servicer.stop_triggered):
            time.sleep(poll)
    finally:
        server.stop(grace=2)
    return {"workers": sorted(watchdog.last_seen), "lost": watchdog.lost}


class _Watchdog:
    """When each worker was last heard from; drops the silent ones and says when serving is over."""

    def __init__(self, oracle, worker_timeout: float, printer, on_trial_end):
        self.oracle, self.worker_timeout, self.printer, self.on_trial_end = (
            oracle,
            worker_timeout,
            printer,
            on_trial_end,
        )
        self.last_seen: dict[str, float] = {}
        self.lost: list[str] = []
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def seen(self, tuner_id=None, trial_id=None) -> None:
        with self.lock:
            if tuner_id is None:
                tuner_id = next(
                    (t for t, tr in list(self.oracle.ongoing_trials.items()) if tr.trial_id == trial_id), None
                )
            if tuner_id is not None:
                self.last_seen[tuner_id] = time.monotonic()

    def finished(self, stop_triggered: bool) -> bool:
        """Whether serving is over: every trial done and every worker told, or no worker left for too long."""
        oracle, now = self.oracle, time.monotonic()
        with self.lock:
            if stop_triggered and not oracle.ongoing_trials and not oracle.tuner_ids:
                return True
            for tuner_id in sorted(set(oracle.tuner_ids) | set(oracle.ongoing_trials)):
                if now - self.last_seen.get(tuner_id, self.started) >= self.worker_timeout:
                    self._drop(tuner_id)
            silent = now - max(self.last_seen.values(), default=self.started) >= self.worker_timeout
            if not oracle.tuner_ids and not stop_triggered and silent:
                self.printer(
                    f"chief: no worker for {self.worker_timeout:.0f}s and trials remain; stopping. "
                    "Run the same chief and workers again to resume."
                )
                return True
        return False

    def _drop(self, tuner_id: str) -> None:
        """A silent worker: its running trial FAILED (so it is not waited for), the worker forgotten."""
        import keras_tuner as kt

        oracle, timeout = self.oracle, self.worker_timeout
        trial = oracle.ongoing_trials.get(tuner_id)
        what = f"; its trial {trial.trial_id} is marked FAILED" if trial else ""
        self.printer(f"chief: worker {tuner_id} has not reported for {timeout:.0f}s{what}")
        if trial is not None:
            trial.status = kt.engine.trial.TrialStatus.FAILED
            trial.message = f"worker {tuner_id} stopped reporting (timeout {timeout:.0f}s)"
            oracle.end_trial(trial)
            if self.on_trial_end is not None:
                self.on_trial_end(trial)
        oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        self.lost.append(tuner_id)


def _watched(servicer_class, watchdog: _Watchdog):
    """keras-tuner's oracle servicer, telling ``watchdog`` each time a worker is heard from."""

    class WatchedServicer(servicer_class):
        def CreateTrial(self, request, context):
            watchdog.seen(tuner_id=request.tuner_id)
            return super().CreateTrial(request, context)

        def UpdateTrial(self, request, context):
            watchdog.seen(trial_id=request.trial_id)
            return super().UpdateTrial(request, context)

        def EndTrial(self, request, context):
            watchdog.seen(trial_id=request.trial.trial_id)
            response = super().EndTrial(request, context)
            if watchdog.on_trial_end is not None:
                watchdog.on_trial_end(self.oracle.trials[request.trial.trial_id])
            return response

    return WatchedServicer
