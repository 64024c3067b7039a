"""How `toolwire serve` runs: one process, or `--workers N` processes on one listening socket.

One process (`run_server`): uvicorn binds the port and serves the app in this process.

N processes (`supervise`), the pre-fork model of gunicorn and of uvicorn's own `--workers`,
written here because uvicorn's needs the app as an import string and rebuilds its whole `Config`
in every child, where ours is built from `Settings` (flags over the environment) with our own
HTTP protocol class (`toolwire.inbound.slow_clients`):

1. the parent runs the first start once (data directory, secret, schema, admin account, demo
   key: `toolwire.bootstrap.bootstrap_once`) and prints its banner once;
2. it binds the listening socket, then starts N children (multiprocessing `spawn`: a fresh
   interpreter each, no state forked), each handed the socket and the same `Settings`; each
   builds its own services in its lifespan (its own connection pool, ledger writer, instance
   row) and accepts on the shared socket, so the kernel spreads connections over them;
3. a child that dies is started again (after `RESTART_DELAY_S`); one that failed to start
   (uvicorn's exit code 3: database unreachable, bad catalog) stops them all: restarting it
   would fail the same way;
4. SIGTERM or SIGINT: the parent closes its copy of the socket and sends SIGTERM to every child;
   each drains (uvicorn closes its listener, lets calls in flight finish for up to
   `drain_timeout_s`, then the core stops the rest with UNAVAILABLE (`cli.draining`); the
   lifespan then flushes the ledger and audit);
   once the last copy of the socket is closed, new connections are refused, which a proxy
   retries elsewhere. Children still running `drain_timeout_s + SHUTDOWN_GRACE_S` later are
   killed. A child whose parent vanished (`kill -9` of the parent) drains itself.

Processes share only what every one of them can reach: the database and `TOOLWIRE_STATE_URL`.
`memory://` state lives in one process, so `serve` refuses N > 1 with it (`check_workers`).
Design note: docs/design/scale-out.md.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from toolwire.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

    from toolwire.app import OnReady

log = logging.getLogger("toolwire.workers")

STARTUP_FAILURE = 3
"""uvicorn's exit code when the app's lifespan startup failed."""
RESTART_DELAY_S = 1.0
SHUTDOWN_GRACE_S = 15.0
"""Beyond the drain timeout: time for a child's lifespan shutdown (ledger and audit flush)."""
BACKLOG = 2048
ORPHAN_CHECK_S = 0.5


def check_workers(settings: Settings) -> str | None:
    """Why these settings cannot run `settings.workers` processes, or None when they can."""
    if settings.workers < 1:
        return f"--workers must be at least 1, not {settings.workers}"
    if settings.workers > 1 and settings.state_url.partition("://")[0].lower() == "memory":
        return (
            f"--workers {settings.workers} needs state every worker can reach, and memory:// "
            "lives in one process (MCP sessions, stream resumption, cancellations would differ "
            "per worker). Set TOOLWIRE_STATE_URL=redis://HOST:6379/0, or run one worker."
        )
    if settings.drain_timeout_s <= 0:
        return "TOOLWIRE_DRAIN_TIMEOUT_S must be positive"
    return None


def server_config(settings: Settings, app: Starlette) -> uvicorn.Config:
    """The uvicorn configuration every gateway process serves with. `ValueError` for bad limits."""
    import uvicorn

    from toolwire.cli.draining import ANSWER_GRACE_S
    from toolwire.inbound.slow_clients import guarded_protocol

    protocol = guarded_protocol(
        header_timeout=settings.header_timeout_s,
        body_timeout=settings.body_timeout_s,
        max_connections=settings.max_connections,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol,
        timeout_keep_alive=max(1, round(settings.keep_alive_s)),
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # uvicorn's own deadline, after the core's (`cli.draining`): time to answer stopped calls
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s + ANSWER_GRACE_S),
    )


def server(settings: Settings, app: Starlette) -> uvicorn.Server:
    """The server one gateway process runs (`cli.draining.DrainingServer`); `ValueError` for
    bad limits."""
    from toolwire.cli.draining import DrainingServer

    config = server_config(settings, app)
    return DrainingServer(config, drain_timeout_s=settings.drain_timeout_s)


def run_server(
    settings: Settings, app: Starlette, sockets: list[socket.socket] | None = None
) -> None:
    """Serve `app` in this process until SIGTERM/SIGINT, then drain (see the module doc)."""
    server(settings, app).run(sockets=sockets)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket children inherit. `OSError` when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings, sock: socket.socket, on_ready: OnReady) -> int:
    """Run `settings.workers` children on `sock` until a signal; the process exit code.

    With metrics on, the workers share one prometheus_client multiprocess directory
    (`toolwire.metrics.multiprocess_dir`), so any worker's `/metrics` reports the whole host,
    and the separate metrics port (`metrics_port`) is served here, once, for all of them."""
    if not settings.metrics:
        return _supervise(settings, sock, on_ready)
    from toolwire import metrics

    with metrics.multiprocess_dir():
        listener = None
        if settings.metrics_port is not None:
            try:
                listener = metrics.serve_host(settings.host, settings.metrics_port)
            except OSError as exc:
                log.error("cannot serve metrics on port %s: %s", settings.metrics_port, exc)
                return 1
            os.environ[metrics.SUPERVISOR_PORT_ENV] = "1"
        try:
            return _supervise(settings, sock, on_ready, metrics.process_exited)
        finally:
            os.environ.pop(metrics.SUPERVISOR_PORT_ENV, None)
            if listener is not None:
                listener.shutdown()
                listener.server_close()


def _ignore_exit(pid: int) -> None:
    """No bookkeeping when a worker exits (metrics off)."""


def _supervise(
    settings: Settings,
    sock: socket.socket,
    on_ready: OnReady,
    exited_pid: Callable[[int], None] = _ignore_exit,
) -> int:
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    parent = os.getpid()

    def start(index: int) -> multiprocessing.process.BaseProcess:
        child = context.Process(
            target=_worker,
            args=(settings, sock, parent, on_ready),
            name=f"toolwire-worker-{index}",
            daemon=False,
        )
        child.start()
        log.info("started worker %d (pid %s)", index, child.pid)
        return child

    children = {index: start(index) for index in range(settings.workers)}
    code = 0
    try:
        while not stopping.is_set():
            sentinels = [child.sentinel for child in children.values()]
            ready = set(multiprocessing.connection.wait(sentinels, timeout=0.5))
            for index in [i for i, child in children.items() if child.sentinel in ready]:
                if stopping.is_set():
                    break
                exited, pid = children[index].exitcode, children[index].pid
                if pid is not None:
                    exited_pid(pid)
                if exited == STARTUP_FAILURE:
                    log.error("worker %d failed to start; stopping every worker", index)
                    code = 1
                    stopping.set()
                    break
                log.warning("worker %d exited with %s; starting it again", index, exited)
                time.sleep(RESTART_DELAY_S)
                if not stopping.is_set():
                    children[index] = start(index)
    finally:
        sock.close()  # with every child's copy closed too, new connections are refused
        _stop_all(list(children.values()), settings.drain_timeout_s + SHUTDOWN_GRACE_S)
        for pid in [child.pid for child in children.values()]:
            if pid is not None:
                exited_pid(pid)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _stop_all(children: list[multiprocessing.process.BaseProcess], within: float) -> None:
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + within
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.error("worker pid %s did not drain in time; killing it", child.pid)
            child.kill()
            child.join(5)


def _worker(
    settings: Settings, sock: socket.socket, parent: int, on_ready: OnReady
) -> None:  # pragma: no cover - runs in the child process (covered by the workers tests)
    from toolwire import logs
    from toolwire.app import create_app, prepare

    logs.configure(settings.log_level, settings.log_format)
    threading.Thread(target=_drain_when_orphaned, args=(parent,), daemon=True).start()
    app = create_app(settings, on_ready=on_ready, prepared=prepare(settings))
    run_server(settings, app, sockets=[sock])


def _drain_when_orphaned(parent: int, check: Callable[[], int] = os.getppid) -> None:
    """SIGTERM this process once its parent is gone (the parent was killed with `kill -9`)."""
    while check() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)
