"""N toolwire instances as one, for tests: real `toolwire serve` processes sharing one PostgreSQL
database, one Redis, the gateway secret and the admin key, behind a real nginx running the
deployment recipe (examples/deploy/nginx.conf, rendered by `tests.support.nginx`).

    with scratch_postgres() as db, running_cluster(tmp, database=db, config=CONFIG) as cluster:
        _, key = cluster.front.create_account(credits=10)     # through nginx
        cluster.kill(1)                                      # kill -9 the second instance
        cluster.terminate(2)                                 # SIGTERM: it drains, then exits

`cluster.front` is a `RunningGateway` whose URL is nginx's, so every helper of
`toolwire.testing` (accounts, keys, clients) goes through the load balancer. Responses carry
`X-Upstream` (the instance's `127.0.0.1:port`, added to the rendered copy only) so a test can
see which instance answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.conftest import _async_url, _maintenance_dsn
from tests.support import nginx, workers
from toolwire.core.model import credits_to_micro
from toolwire.testing import RunningGateway, free_port, start_gateway

REPO = Path(__file__).resolve().parents[2]
REDIS = ("127.0.0.1", 6379)
REDIS_DB = 12
"""A database of the machine's Redis for these tests; every key expires on its own."""
UPSTREAM_HEADER = "x-upstream"
STARTUP_TIMEOUT_S = 120.0
"""Three interpreters importing at once on a loaded 2-core machine take a while."""


def redis_url() -> str:
    """The machine's Redis, or a skip saying why (a failure when CI=true)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        reachable = probe.connect_ex(REDIS) == 0
    if not reachable:
        reason = f"no Redis listening on {REDIS[0]}:{REDIS[1]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return f"redis://{REDIS[0]}:{REDIS[1]}/{workers.redis_db(REDIS_DB)}"


@contextlib.contextmanager
def gateway_pair(
    root: Path, config: Mapping[str, Any] | None = None
) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    """Two `toolwire serve` processes over one SQLite database file and one Redis, with one
    secret and one admin key (no load balancer: each is reached on its own port)."""
    env = {"TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32), "TOOLWIRE_STATE_URL": redis_url()}
    database = ["--database-url", f"sqlite:///{root / 'shared.db'}"]
    admin = f"tw_admin_{secrets.token_hex(8)}"
    a = start_gateway(root / "a", env=env, admin_key=admin, config=config, args=database)
    try:
        b = start_gateway(root / "b", env=env, admin_key=admin, config=config, args=database)
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database (async SQLAlchemy URL), dropped afterwards; skipped when
    PostgreSQL is unreachable (a failure when CI=true), like `tests/conftest.py`'s `db_url`."""
    dsn = asyncio.run(_maintenance_dsn())
    name = f"tw_scale_{secrets.token_hex(6)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield _async_url(dsn, name)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Cluster:
    front: RunningGateway
    """nginx, as a `RunningGateway` (its URL, the shared admin key)."""
    instances: list[RunningGateway]
    ports: list[int]
    proxy: nginx.Nginx
    database: str
    root: Path
    config: Mapping[str, Any] | None
    env: dict[str, str] = field(default_factory=dict)

    def kill(self, index: int) -> None:
        """`kill -9` instance `index`: nothing of its shutdown runs."""
        self.instances[index].kill()

    def terminate(self, index: int, timeout: float = 60) -> int:
        """SIGTERM instance `index` and wait for it to drain and exit; its exit code."""
        process = self.instances[index].process
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def restart(self, index: int) -> RunningGateway:
        """Start instance `index` again on its port (after `kill` or `terminate`)."""
        self.instances[index] = self._start(index)
        return self.instances[index]

    def _start(self, index: int) -> RunningGateway:
        return start_gateway(
            self.root / f"instance-{index}",
            config=self.config,
            env=self.env,
            admin_key=self.front.admin_key,
            port=self.ports[index],
            startup_timeout=STARTUP_TIMEOUT_S,
        )

    def stop(self) -> None:
        self.proxy.stop()
        with ThreadPoolExecutor(max(1, len(self.instances))) as pool:
            list(pool.map(RunningGateway.stop, self.instances))


@contextlib.contextmanager
def running_cluster(
    root: Path,
    *,
    database: str,
    instances: int = 3,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Cluster]:
    """`instances` gateways (started in parallel) behind nginx; everything stopped afterwards."""
    binary = nginx.nginx_binary()
    shared = {
        "PYTHONPATH": str(REPO),
        "TOOLWIRE_DATABASE_URL": database,
        "TOOLWIRE_STATE_URL": redis_url(),
        "TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32),
        **(env or {}),
    }
    admin_key = f"tw_admin_{secrets.token_hex(16)}"
    ports = [free_port() for _ in range(instances)]
    listen = free_port()
    prefix = root / "nginx"
    prefix.mkdir(parents=True)
    conf = nginx.render(
        prefix,
        listen_port=listen,
        upstream_ports=ports,
        extra_location=f"            add_header {UPSTREAM_HEADER} $upstream_addr always;",
    )
    proxy = nginx.start(binary, conf, listen)
    front = RunningGateway(
        proxy.url, admin_key, prefix, proxy.process, prefix / "error.log", dict(shared)
    )
    cluster = Cluster(front, [], ports, proxy, database, root, config, dict(shared))
    try:
        with ThreadPoolExecutor(instances) as pool:
            starting = [pool.submit(cluster._start, index) for index in range(instances)]
        cluster.instances = [f.result() for f in starting if f.exception() is None]
        for failed in (f.exception() for f in starting):
            if failed is not None:
                raise failed
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.stop()


RETRIED = frozenset({502, 503, 409})
"""What `fire(..., idempotent=True)` retries with the same Idempotency-Key: a proxy error, a
drained instance, a claim a dead instance still holds (409 in_progress until recovery)."""


@dataclass
class Fired:
    """What a load run saw: final (status, code) per call (status 0: the answer was lost to a
    transport error, code the httpx error's name), which instance gave each final answer, and how
    many attempts were retried."""

    outcomes: Counter[tuple[int, str]] = field(default_factory=Counter)
    upstreams: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    moved: int = 0
    """Calls nginx passed to another instance after a failed attempt (`$upstream_addr` lists
    every instance tried)."""
    done: int = 0
    receipts: dict[str, int] = field(default_factory=dict)
    """request id -> credits charged (micro-credits), of every call answered OK: what the
    clients were told they paid."""


async def fire(
    url: str,
    key: str,
    calls: int,
    *,
    concurrency: int = 64,
    idempotent: bool = False,
    after: tuple[int, Callable[[], Awaitable[None]]] | None = None,
    retry_for: float = 30.0,
    tool: str = "echo",
    arguments: Callable[[int], dict[str, Any]] = lambda i: {"message": str(i)},
) -> Fired:
    """`calls` calls of `tool` (`arguments(i)` for the i-th; by default the priced echo)
    through `url` by `concurrency` workers, each on its own keep-alive connection.
    `idempotent`: every call carries its own Idempotency-Key and is retried (same key) on a
    transport error or a status in `RETRIED`, for up to `retry_for` seconds.
    `after=(n, action)`: run `action` once `n` calls have their final answer, while the load
    goes on."""
    fired = Fired()
    queue = iter(range(calls))
    reached = asyncio.Event()
    headers = {"Authorization": f"Bearer {key}"}

    async def one(http: httpx.AsyncClient, i: int) -> httpx.Response:
        body = {"tool": tool, "input": arguments(i)}
        if not idempotent:
            return await http.post("/api/v1/execute", json=body)
        extra = {"Idempotency-Key": f"call-{i}"}
        deadline = asyncio.get_running_loop().time() + retry_for
        while True:
            try:
                reply = await http.post("/api/v1/execute", json=body, headers=extra)
                if reply.status_code not in RETRIED:
                    return reply
            except httpx.TransportError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            else:
                if asyncio.get_running_loop().time() > deadline:
                    return reply
            fired.retries += 1
            await asyncio.sleep(0.1)

    async def worker() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=url, limits=limits, headers=headers, timeout=60
        ) as http:
            for i in queue:
                try:
                    reply = await one(http, i)
                except httpx.TransportError as lost:
                    # no key, no retry: an answer cut off by an instance's death (nginx may
                    # already have passed its headers on) is a lost answer, counted as such
                    fired.outcomes[0, type(lost).__name__] += 1
                    fired.done += 1
                    continue
                try:
                    body = reply.json()
                except ValueError:  # nginx's own HTML error page (a 502)
                    body = {"error": {"code": f"proxy: {reply.text[:60]!r}"}}
                code = "OK" if body.get("ok") else body.get("error", {}).get("code", "?")
                if code == "OK":
                    meta = body["meta"]
                    fired.receipts[meta["request_id"]] = credits_to_micro(meta["credits_charged"])
                fired.outcomes[reply.status_code, code] += 1
                tried = reply.headers.get(UPSTREAM_HEADER, "?").split(", ")
                fired.upstreams[tried[-1]] += 1  # the instance that answered
                fired.moved += len(tried) > 1  # nginx tried another one first
                fired.done += 1
                if after is not None and fired.done >= after[0]:
                    reached.set()

    async def trigger() -> None:
        if after is not None:
            await reached.wait()
            await after[1]()

    async with asyncio.TaskGroup() as group:
        group.create_task(trigger())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if after is not None and not reached.is_set():
            reached.set()
    return fired
