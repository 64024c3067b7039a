"""`toolwire serve --workers N` and graceful shutdown, on real processes.

- N > 1 with `memory://` state is refused with a message naming TOOLWIRE_STATE_URL;
- three workers on one port share PostgreSQL and Redis: the first start runs once (one demo
  account, one banner), every worker registers, calls are served, a worker killed with
  `kill -9` is replaced, SIGTERM drains them all and each unregisters after flushing;
- one process drained with a call in flight: the call finishes and is charged, a new connection
  is refused at once; a call longer than the drain timeout is cancelled and its credits released;
  a request on an idle kept-alive connection during the drain is still answered;
- workers whose supervisor was killed drain themselves.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import warnings
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from tests.support.books import books, database_url, eventually, scalar
from tests.support.cluster import redis_url, scratch_postgres
from toolwire.core.model import MICRO
from toolwire.store.db import create_engine
from toolwire.testing import TOOLWIRE, start_gateway

pytestmark = pytest.mark.timeout(300)  # processes start slowly on a loaded machine
REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "builtins": {"modules": ["tests.support.tools"]},
    "prices": {"echo": 0.25, "slow": 1},
    "timeouts": {"slow": 60},
}


def test_more_than_one_worker_with_memory_state_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLWIRE_")}
    ran = subprocess.run(
        [TOOLWIRE, "serve", "--workers", "2", "--data-dir", str(tmp_path), "--port", "1"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=60,
    )
    assert ran.returncode == 1
    assert "memory://" in ran.stderr and "TOOLWIRE_STATE_URL=redis://" in ran.stderr
    assert not (tmp_path / "toolwire.db").exists()  # refused before anything was created


def test_three_workers_share_one_port_bootstrap_once_and_drain_on_sigterm(
    tmp_path: Path,
) -> None:
    with scratch_postgres() as database, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        env = {
            "PYTHONPATH": str(REPO),
            "TOOLWIRE_DATABASE_URL": database,
            "TOOLWIRE_STATE_URL": redis_url(),
            "TOOLWIRE_ADMIN_KEY": "",  # none given: the first start makes one, shown once
        }
        gw = start_gateway(
            tmp_path, config=CONFIG, env=env, args=["--workers", "3"], startup_timeout=120
        )
        try:
            gw.admin_key = gw.logs().split("admin key", 1)[1].split()[0]

            async def registered() -> bool:
                rows = await scalar(database, "SELECT COUNT(*) FROM gateway_instances")
                return rows == 3

            asyncio.run(eventually(registered, within=120))
            account_id, key = gw.create_account(credits=10)
            calls = [{"tool": "echo", "input": {"message": str(i)}} for i in range(8)]
            with gw.client(key) as http:
                replies = [http.post("/api/v1/execute", json=call) for call in calls]
            assert [r.status_code for r in replies] == [200] * 8
            # no wait: an answer given as charged is committed before it is sent, so a kill -9
            # right after it keeps the charge (docs/design/0003-billing-exactness.md)
            pids = asyncio.run(_pids(database))
            os.kill(pids[0], signal.SIGKILL)  # a worker dies: the supervisor starts another

            async def replaced() -> bool:
                now = await _pids(database)
                return len(now) == 3 and pids[0] not in now

            asyncio.run(eventually(replaced, within=120))
            with gw.client(key) as http:
                replies = [http.post("/api/v1/execute", json=call) for call in calls]
            assert [r.status_code for r in replies] == [200] * 8
        finally:
            gw.process.send_signal(signal.SIGTERM)
            code = gw.process.wait(timeout=60)
        log = gw.logs()
        assert code == 0, log[-3000:]
        assert log.count("toolwire: first start") == 1
        assert log.count("Application shutdown complete") == 3
        assert asyncio.run(scalar(database, "SELECT COUNT(*) FROM gateway_instances")) == 0
        demo = "SELECT COUNT(*) FROM accounts WHERE name = 'demo'"
        assert asyncio.run(scalar(database, demo)) == 1
        got = asyncio.run(books(database, account_id))
        assert (got.charges, got.open_reservations) == (16, 0)
        assert got.balance == got.ledger_sum == (10 - 16 * 0.25) * MICRO


async def _pids(database: str) -> list[int]:
    engine = create_engine(database, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT pid FROM gateway_instances ORDER BY pid"))
            return [int(row.pid) for row in rows]
    finally:
        await engine.dispose()


def _one_response(conn: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (headers, then `content-length` bytes of body): a single
    recv may return the headers alone, and the body would then be read as the next response."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed mid-body: {data!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def _connect_refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def test_a_drained_process_finishes_its_call_refuses_new_ones_and_settles(
    tmp_path: Path,
) -> None:
    env = {"PYTHONPATH": str(REPO), "TOOLWIRE_DRAIN_TIMEOUT_S": "20"}
    gw = start_gateway(tmp_path, config=CONFIG, env=env, startup_timeout=120)
    try:
        account_id, key = gw.create_account(credits=10)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as http:
            call = asyncio.create_task(
                http.post("/api/v1/execute", json={"tool": "slow.sleep", "input": {"seconds": 3}})
            )

            async def reserved() -> bool:
                return (await books(database_url("sqlite", tmp_path), account_id)).reserves == 1

            await eventually(reserved, 60)
            gw.process.send_signal(signal.SIGTERM)
            port = int(gw.url.rsplit(":", 1)[1])
            await eventually(lambda: asyncio.to_thread(_connect_refused, port), 15)
            reply = await call
        assert reply.status_code == 200, reply.text
        assert reply.headers["connection"] == "close"
        assert reply.json()["data"] == {"slept": 3}
    finally:
        code = await asyncio.to_thread(gw.process.wait, 60)
    assert code == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down
    got = await books(database_url("sqlite", tmp_path), account_id)
    assert (got.charges, got.releases, got.open_reservations) == (1, 0, 0)
    assert got.balance == got.ledger_sum == 9 * MICRO


async def test_a_call_longer_than_the_drain_timeout_is_stopped_as_unavailable_and_released(
    tmp_path: Path,
) -> None:
    env = {"PYTHONPATH": str(REPO), "TOOLWIRE_DRAIN_TIMEOUT_S": "1"}
    gw = start_gateway(tmp_path, config=CONFIG, env=env, startup_timeout=120)
    try:
        account_id, key = gw.create_account(credits=10)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as http:
            call = asyncio.create_task(
                http.post("/api/v1/execute", json={"tool": "slow.sleep", "input": {"seconds": 50}})
            )

            async def reserved() -> bool:
                return (await books(database_url("sqlite", tmp_path), account_id)).reserves == 1

            await eventually(reserved, 60)
            gw.process.send_signal(signal.SIGTERM)
            reply = await call
        # the core stopped it at the drain deadline (docs/design/scale-out.md): the door's
        # own UNAVAILABLE, not uvicorn's plain 500 for a task it cancels
        assert (reply.status_code, reply.headers["connection"]) == (503, "close")
        assert reply.headers["retry-after"] == "1"
        error = reply.json()["error"]
        assert (error["code"], error["details"]["reason"]) == ("UNAVAILABLE", "draining")
    finally:
        code = await asyncio.to_thread(gw.process.wait, 60)
    assert code == -signal.SIGTERM
    got = await books(database_url("sqlite", tmp_path), account_id)
    assert (got.charges, got.releases, got.open_reservations) == (0, 1, 0)
    assert got.balance == got.ledger_sum == 10 * MICRO
    assert "drain deadline: stopped 1 call(s) still running" in gw.logs()
    assert "running task(s)" not in gw.logs()  # uvicorn had nothing left to cancel


async def test_workers_whose_supervisor_is_killed_drain_themselves(tmp_path: Path) -> None:
    env = {"TOOLWIRE_STATE_URL": redis_url()}
    gw = start_gateway(tmp_path, env=env, args=["--workers", "2"], startup_timeout=120)
    url = database_url("sqlite", tmp_path)
    count = "SELECT COUNT(*) FROM gateway_instances"
    try:

        async def both_up() -> bool:
            return await scalar(url, count) == 2

        await eventually(both_up, within=120)
        gw.kill()  # kill -9 of the parent: its children are orphans

        async def both_gone() -> bool:  # each drained, flushed, unregistered
            return await scalar(url, count) == 0

        await eventually(both_gone, within=60)
        port = int(gw.url.rsplit(":", 1)[1])
        assert await asyncio.to_thread(_connect_refused, port)
    finally:
        gw.kill()
    assert gw.logs().count("Application shutdown complete") == 2


def test_an_idle_kept_alive_connection_is_served_once_more_while_draining(tmp_path: Path) -> None:
    """The linger (`DRAIN_LINGER_S`): a proxy that writes on an idle connection just as the drain
    begins gets its answer, with `Connection: close`, instead of a reset."""
    gw = start_gateway(tmp_path, startup_timeout=120)
    port = int(gw.url.rsplit(":", 1)[1])
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(request)
            first = _one_response(conn)
            gw.process.send_signal(signal.SIGTERM)
            asyncio.run(eventually(lambda: asyncio.to_thread(_connect_refused, port), 10))
            conn.sendall(request)
            second = b""
            while chunk := conn.recv(65536):  # read until the gateway closes the connection
                second += chunk
    finally:
        gw.process.wait(timeout=60)
    assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200") and b"connection: close" in second.lower()
