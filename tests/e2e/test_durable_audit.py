"""The receipt, the ledger and the audit record agree after `kill -9`: a real `toolwire serve`
takes priced calls from 16 clients, is killed mid-load (some calls mid-settle, some still
running), and restarts (recovery resolves what it left open). Then every charge or release in
the ledger has exactly one audit record with the same charge, every charged receipt a client got
is one of them, and the sums agree (docs/design/durable-audit.md). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from tests.e2e.test_billing_exactness import CONFIG, PRICE, _env
from tests.support.books import books, database_url, eventually
from toolwire.core.model import MICRO
from toolwire.store.db import create_engine
from toolwire.testing import RunningGateway, start_gateway

CLIENTS = 16
RUNNING = 4
"""Slow calls still running at the kill: recovery releases them, with a record each."""
ANSWERED_BEFORE_KILL = 150

RESOLUTIONS = (
    "SELECT r.request_id, c.kind, c.charged FROM ledger_entries r JOIN ledger_entries c "
    "ON c.reservation_id = r.reservation_id AND c.kind IN ('charge', 'release') "
    "WHERE r.account_id = :a AND r.kind = 'reserve'"
)
AUDIT = "SELECT request_id, door, outcome, credits_charged FROM audit_events WHERE account_id = :a"


async def _rows(url: str, sql: str, account_id: str) -> list[tuple[object, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql), {"a": account_id})]
    finally:
        await engine.dispose()


async def _load(gw: RunningGateway, key: str) -> dict[str, int]:
    """Priced echo calls from CLIENTS clients until the gateway dies under them (killed once
    ANSWERED_BEFORE_KILL were answered, with RUNNING slow calls in flight); request id ->
    micro-credits charged, of every charged receipt a client got."""
    receipts: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {key}"}
    answered = asyncio.Event()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30) as http:
            while True:
                try:
                    reply = await http.post(
                        "/api/v1/execute", json={"tool": "echo", "input": {"message": "hi"}}
                    )
                except httpx.TransportError:
                    return  # the gateway is gone: no receipt
                meta = reply.json()["meta"]
                if meta["credits_charged"]:
                    receipts[meta["request_id"]] = round(meta["credits_charged"] * MICRO)
                if len(receipts) >= ANSWERED_BEFORE_KILL:
                    answered.set()

    async def slow(http: httpx.AsyncClient) -> None:
        body = {"tool": "slow.sleep", "input": {"seconds": 50}}
        try:
            await http.post("/api/v1/execute", json=body)
        except httpx.TransportError:
            return

    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as http:
        running = [asyncio.create_task(slow(http)) for _ in range(RUNNING)]
        load = [asyncio.create_task(client()) for _ in range(CLIENTS)]
        async with asyncio.timeout(60):
            await answered.wait()
        gw.kill()
        await asyncio.gather(*load, *running)
    return receipts


async def test_after_kill_9_every_charge_and_release_has_exactly_one_audit_record(
    db_url: str, tmp_path: Path
) -> None:
    admin_key = f"tw_admin_{secrets.token_hex(16)}"
    gw = start_gateway(tmp_path, config=CONFIG, env=_env(db_url), admin_key=admin_key)
    restarted: RunningGateway | None = None
    url = database_url(db_url, tmp_path)
    try:
        account_id, key = gw.create_account(credits=100_000)
        receipts = await _load(gw, key)
        restarted = start_gateway(tmp_path, config=CONFIG, env=_env(db_url), admin_key=admin_key)

        async def recovered() -> bool:
            return (await books(url, account_id)).open_reservations == 0

        await eventually(recovered, 20)  # recovery runs at start, before serving
        resolutions = await _rows(url, RESOLUTIONS, account_id)
        audit = await _rows(url, AUDIT, account_id)
    finally:
        gw.kill()
        if restarted is not None:
            restarted.stop()

    records = Counter(str(row[0]) for row in audit)
    charged_in_audit = {str(row[0]): int(row[3]) for row in audit}  # type: ignore[call-overload]
    charged_in_ledger = {str(r[0]): int(r[2]) for r in resolutions}  # type: ignore[call-overload]
    assert len(receipts) >= ANSWERED_BEFORE_KILL
    # every charge or release: exactly one audit record, with the same charge
    missing = [rid for rid in charged_in_ledger if records[rid] != 1]
    assert missing == [], f"{len(missing)} resolutions without exactly one record: {missing[:5]}"
    assert {rid: charged_in_audit[rid] for rid in charged_in_ledger} == charged_in_ledger
    # every charged receipt a client got: charged so in the ledger and in its record
    assert {rid: charged_in_ledger.get(rid) for rid in receipts} == receipts
    # the sums: ledger == audit; receipts short of them by at most the calls cut off mid-answer
    ledger_total = sum(charged_in_ledger.values())
    audit_total = sum(int(row[3]) for row in audit)  # type: ignore[call-overload]
    assert ledger_total == audit_total
    assert 0 <= ledger_total - sum(receipts.values()) <= CLIENTS * round(PRICE * MICRO)
    # recovery resolved what the dead process left, each with its own record
    recovery = [row for row in audit if row[1] == "recovery"]
    assert len(recovery) >= RUNNING
    assert {row[2] for row in recovery} <= {"RELEASED", "CHARGED"}
    got = await books(url, account_id)
    assert got.ledger_sum == got.balance
    assert got.balance == 100_000 * MICRO - ledger_total
