"""A catalog reload under load, on two gateway processes sharing Redis and PostgreSQL and one
catalog file: the reload is triggered on one instance through the admin API while clients call
both; no request fails, and the new tool is served within a second on both instances."""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.conftest import _maintenance_dsn
from tests.e2e.test_mcp_clients import redis_url
from toolwire.testing import RunningGateway, start_gateway

CATALOG = "builtins:\n  include: [echo]\nprices:\n  echo: 0.01\n"
WORKERS = 8
WITHIN_S = 1.0


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for both gateways (a skip, or under CI a failure, without)."""
    dsn = await _maintenance_dsn()
    name = f"tw_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def load(
    http: httpx.AsyncClient, urls: list[str], key: str, stop: asyncio.Event
) -> tuple[int, list[str]]:
    """`WORKERS` clients calling `echo` on the instances in turn until `stop`: (calls, failures)."""
    calls = 0
    failures: list[str] = []
    body = {"tool": "echo", "input": {"message": "load"}}
    headers = {"Authorization": f"Bearer {key}"}

    async def worker(n: int) -> None:
        nonlocal calls
        i = n
        while not stop.is_set():
            url = urls[i % len(urls)]
            i += 1
            try:
                reply = await http.post(url + "/api/v1/execute", json=body, headers=headers)
                ok = reply.status_code == 200 and reply.json()["ok"] is True
                if not ok:
                    failures.append(f"{url}: {reply.status_code} {reply.text[:200]}")
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {exc!r}")
            calls += 1

    await asyncio.gather(*(worker(n) for n in range(WORKERS)))
    return calls, failures


async def served_after(http: httpx.AsyncClient, url: str, key: str, since: float) -> float:
    """Seconds from `since` until `url` runs `uuid` (polled every 10 ms)."""
    body = {"tool": "uuid", "input": {}}
    headers = {"Authorization": f"Bearer {key}"}
    while True:
        reply = await http.post(url + "/api/v1/execute", json=body, headers=headers)
        if reply.status_code == 200:
            return time.monotonic() - since
        assert reply.json()["error"]["code"] == "TOOL_NOT_FOUND", reply.text
        await asyncio.sleep(0.01)


async def versions(http: httpx.AsyncClient, gateways: list[RunningGateway]) -> set[str]:
    """The catalog versions the instances report in /readyz."""
    return {(await http.get(g.url + "/readyz")).json()["catalog_version"] for g in gateways}


async def test_a_reload_on_one_instance_reaches_both_under_load_without_a_failed_request(
    tmp_path: Path, postgres: str
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    env = {
        "TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32),
        "TOOLWIRE_STATE_URL": redis_url(),
        "TOOLWIRE_RELOAD_POLL_S": "0",  # only the signal over Redis carries the reload to b
    }
    args = ["--database-url", postgres, "--config", str(catalog)]
    admin = f"tw_admin_{secrets.token_hex(8)}"
    gateways: list[RunningGateway] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for name in ("a", "b"):
                gateways.append(start_gateway(tmp_path / name, env=env, admin_key=admin, args=args))
        a, b = gateways
        _, key = a.create_account(credits=10_000, name="load")
        limits = httpx.Limits(max_connections=WORKERS + 4)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            before = await versions(http, gateways)
            assert len(before) == 1
            stop = asyncio.Event()
            running = asyncio.create_task(load(http, [a.url, b.url], key, stop))
            await asyncio.sleep(1.0)
            tmp = catalog.with_suffix(".tmp")
            tmp.write_text(CATALOG.replace("[echo]", "[echo, uuid]"))
            tmp.replace(catalog)
            started = time.monotonic()
            polls = [asyncio.create_task(served_after(http, g.url, key, started)) for g in gateways]
            answer = await http.post(
                a.url + "/admin/v1/reload", headers={"Authorization": f"Bearer {admin}"}
            )
            async with asyncio.timeout(30):
                on_a, on_b = await asyncio.gather(*polls)
            await asyncio.sleep(1.0)
            stop.set()
            calls, failures = await running
            after = await versions(http, gateways)
    finally:
        for gateway in gateways:
            gateway.stop()
    result = answer.json()
    assert result["status"] == "reloaded" and result["added"] == ["uuid.generate"], result
    assert failures == [], failures[:5]
    assert calls > 20
    assert on_a < WITHIN_S and on_b < WITHIN_S, (on_a, on_b)
    assert after == {result["version"]} and after != before
    assert "signal from" in b.logs() and "catalog reloaded" in b.logs()
