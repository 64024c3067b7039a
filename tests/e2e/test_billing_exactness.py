"""Money stays exact under load and across processes: a real `toolwire serve` (or two sharing
PostgreSQL) takes 2,000 priced calls at concurrency 64 against an account that can pay for
exactly N of them, and a gateway killed with `kill -9` mid-call leaves nothing open once
restarted."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.books import books, database_url, eventually
from toolwire.core.model import MICRO
from toolwire.testing import RunningGateway, start_gateway

REPO = Path(__file__).resolve().parents[2]
CALLS = 2_000
CONCURRENCY = 64
AFFORDABLE = 700
PRICE = 0.25
CONFIG = {
    "builtins": {"modules": ["tests.support.tools"]},
    "prices": {"echo": PRICE, "slow": 1},
    "timeouts": {"slow": 60},
}


def _env(db_url: str) -> dict[str, str]:
    env = {"PYTHONPATH": str(REPO)}
    if db_url.startswith("postgresql"):
        env["TOOLWIRE_DATABASE_URL"] = db_url
    return env


async def _fire(urls: list[str], key: str, calls: int) -> Counter[tuple[int, str]]:
    """`calls` echo calls spread over `urls` by CONCURRENCY workers, each on its own keep-alive
    connection (one pool shared by 64 tasks is slower than the gateway); counts (status, code)."""
    headers = {"Authorization": f"Bearer {key}"}
    seen: Counter[tuple[int, str]] = Counter()
    queue = iter(range(calls))

    async def worker(n: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        base = urls[n % len(urls)]
        async with httpx.AsyncClient(
            base_url=base, limits=limits, headers=headers, timeout=60
        ) as http:
            for i in queue:
                reply = await http.post(
                    "/api/v1/execute", json={"tool": "echo", "input": {"message": str(i)}}
                )
                body = reply.json()
                seen[reply.status_code, "OK" if body["ok"] else body["error"]["code"]] += 1

    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    return seen


async def test_2000_concurrent_calls_against_credits_for_n_charge_exactly_n(
    db_url: str, tmp_path: Path
) -> None:
    gw = start_gateway(tmp_path, config=CONFIG, env=_env(db_url))
    try:
        account_id, key = gw.create_account(credits=AFFORDABLE * PRICE)
        async with asyncio.timeout(60):
            seen = await _fire([gw.url], key, CALLS)
    finally:
        gw.stop()  # flushes the ledger: every settle is committed
    assert seen == {(200, "OK"): AFFORDABLE, (402, "INSUFFICIENT_CREDITS"): CALLS - AFFORDABLE}
    got = await books(database_url(db_url, tmp_path), account_id)
    assert got.balance == 0
    assert got.ledger_sum == got.balance
    assert got.charges == AFFORDABLE
    assert got.reserves == AFFORDABLE
    assert got.open_reservations == 0


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_gateways_sharing_postgresql_charge_exactly_n_between_them(
    db_url: str, tmp_path: Path
) -> None:
    admin_key = f"tw_admin_{secrets.token_hex(16)}"
    first = start_gateway(tmp_path, config=CONFIG, env=_env(db_url), admin_key=admin_key)
    gateways = [first]
    try:
        gateways.append(
            start_gateway(tmp_path, config=CONFIG, env=_env(db_url), admin_key=admin_key)
        )
        account_id, key = first.create_account(credits=AFFORDABLE * PRICE)
        async with asyncio.timeout(60):
            seen = await _fire([gw.url for gw in gateways], key, CALLS)
    finally:
        for gw in gateways:
            gw.stop()
    assert seen == {(200, "OK"): AFFORDABLE, (402, "INSUFFICIENT_CREDITS"): CALLS - AFFORDABLE}
    got = await books(db_url, account_id)
    assert (got.balance, got.ledger_sum, got.charges, got.open_reservations) == (
        0,
        0,
        AFFORDABLE,
        0,
    )


async def _balance(http: httpx.AsyncClient) -> float:
    return float((await http.get("/api/v1/me")).json()["balance"])


async def test_a_gateway_killed_mid_call_leaves_every_reservation_resolved_after_restart(
    db_url: str, tmp_path: Path
) -> None:
    in_flight = 6
    credits = 10
    admin_key = f"tw_admin_{secrets.token_hex(16)}"
    gw = start_gateway(tmp_path, config=CONFIG, env=_env(db_url), admin_key=admin_key)
    restarted: RunningGateway | None = None
    try:
        account_id, key = gw.create_account(credits=credits)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as http:
            calls = [
                asyncio.create_task(
                    http.post(
                        "/api/v1/execute", json={"tool": "slow.sleep", "input": {"seconds": 50}}
                    )
                )
                for _ in range(in_flight)
            ]

            async def all_reserved() -> bool:
                return await _balance(http) == credits - in_flight

            await eventually(all_reserved, 20)
            gw.kill()
            results: list[Any] = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(r, httpx.TransportError) for r in results)
        got = await books(database_url(db_url, tmp_path), account_id)
        assert got.open_reservations == in_flight  # the dead process left them open
        restarted = start_gateway(tmp_path, config=CONFIG, env=_env(db_url), admin_key=admin_key)
        got = await books(database_url(db_url, tmp_path), account_id)  # before any call
        assert got.open_reservations == 0
        assert got.releases == in_flight
        assert got.balance == credits * MICRO
        assert got.ledger_sum == got.balance
        with restarted.client(key) as http2:
            reply = http2.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "x"}})
            assert reply.json()["meta"]["balance"] == credits - PRICE
    finally:
        gw.kill()
        if restarted is not None:
            restarted.stop()
