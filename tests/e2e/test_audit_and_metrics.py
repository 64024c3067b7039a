"""Audit you can query and /metrics, end to end on one real `toolwire serve` (SQLite).

N calls of mixed outcomes give exactly N audit records with the right fields, none holding a
secret or, by default, raw arguments; the admin API and `toolwire audit` filter them alike;
the receipts, the ledger and the audit agree; /metrics, parsed with prometheus_client's own
parser, counts exactly the calls made; a clean shutdown under load loses no record.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.conftest import clean_env, run_toolwire
from tests.support.billing_tools import PROVIDER
from tests.support.books import books, database_url, eventually, scalar
from toolwire.testing import RunningGateway, free_port, running_gateway, start_gateway

REPO = Path(__file__).resolve().parents[2]
METRICS_TOKEN = f"scrape-{secrets.token_hex(16)}"
CONFIG = {
    "builtins": {"modules": ["tests.support.tools", "tests.support.billing_tools"]},
    "prices": {"echo": 0.25, "fail": 1, "acme": 2},
    "audit": {"echo": {"arguments": True}},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env = {"PYTHONPATH": str(REPO), "TOOLWIRE_METRICS_TOKEN": METRICS_TOKEN}
    with running_gateway(tmp_path_factory.mktemp("gw"), config=CONFIG, env=env) as gw:
        yield gw


def execute(http: httpx.Client, tool: str, payload: Any, rid: str) -> httpx.Response:
    return http.post(
        "/api/v1/execute", json={"tool": tool, "input": payload}, headers={"X-Request-Id": rid}
    )


def audit(admin: httpx.Client, **params: str) -> list[dict[str, Any]]:
    """Every record matching `params`, following the cursor 3 at a time (pagination exercised)."""
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = admin.get("/admin/v1/audit", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        records += body["records"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def scrape(http: httpx.Client, **headers: str) -> dict[tuple[str, tuple[Any, ...]], float]:
    response = http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def test_mixed_calls_leave_exactly_one_right_record_each(gateway: RunningGateway) -> None:
    own_key = f"sk-acme-{secrets.token_hex(12)}"
    account_id, key = gateway.create_account(credits=10)
    tag = secrets.token_hex(3)
    plan = [  # (tool, input, outcome, credits charged)
        ("echo", {"message": "hello"}, "OK", 0.25),
        ("echo", {"message": f"my key is {own_key}"}, "OK", 0.25),
        ("echo", {"message": 5}, "INVALID_ARGUMENTS", 0),
        ("fail.crash", {}, "UPSTREAM_ERROR", 0),
        ("no_such_tool", {}, "TOOL_NOT_FOUND", 0),
        ("acme.whoami", {}, "OK", 0),  # BYOK: the caller's own key, no platform price
        ("echo", {"message": "again"}, "OK", 0.25),
    ]
    receipts: dict[str, dict[str, Any]] = {}
    with gateway.admin() as admin, gateway.client(key) as http:
        put = admin.put(f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}", json={"value": own_key})
        assert put.status_code == 201
        for i, (tool, payload, outcome, _) in enumerate(plan):
            rid = f"req-{tag}-{i}"
            response = execute(http, tool, payload, rid)
            assert response.headers["x-request-id"] == rid
            body = response.json()
            assert (body.get("error") or {}).get("code", "OK") == outcome, body
            receipts[rid] = body["meta"]
        records = audit(admin, account_id=account_id)
        page_text = admin.get("/admin/v1/audit", params={"account_id": account_id}).text

    assert len(records) == len(plan)
    by_rid = {r["request_id"]: r for r in records}
    assert set(by_rid) == set(receipts)
    assert [r["id"] for r in records] == sorted((r["id"] for r in records), reverse=True)
    for i, (tool, _, outcome, charged) in enumerate(plan):
        r = by_rid[f"req-{tag}-{i}"]
        assert r["account_id"] == account_id and r["key_id"] == records[0]["key_id"]
        assert r["door"] == "rest" and r["outcome"] == outcome
        assert r["tool"] == tool.split(".")[0]
        assert r["credits_charged"] == charged == receipts[r["request_id"]]["credits_charged"]
        assert r["latency_ms"] > 0 and r["at"].endswith("Z")
        assert r["upstream"] is None  # built-in and module tools reach no configured upstream
        if outcome in ("TOOL_NOT_FOUND", "INVALID_ARGUMENTS"):
            assert r["arguments_digest"] is None  # never validated: nothing digested
        else:
            assert r["arguments_digest"].startswith("hmac-sha256:")
            assert len(r["arguments_digest"]) == len("hmac-sha256:") + 64
    assert by_rid[f"req-{tag}-5"]["credential_source"] == "byok"
    assert by_rid[f"req-{tag}-0"]["credential_source"] == "none"
    # raw arguments only where the config asks (echo), and then redacted
    assert by_rid[f"req-{tag}-0"]["arguments"]["message"] == "hello"
    assert by_rid[f"req-{tag}-3"]["arguments"] is None
    assert own_key not in json.dumps(by_rid[f"req-{tag}-1"]["arguments"])
    assert "my key is" in by_rid[f"req-{tag}-1"]["arguments"]["message"]
    assert own_key not in page_text
    # the same arguments give the same digest; others another
    assert by_rid[f"req-{tag}-0"]["arguments_digest"] != by_rid[f"req-{tag}-6"]["arguments_digest"]

    # receipts, ledger and audit agree
    url = database_url("sqlite", gateway.data_dir)
    book = await books(url, account_id)
    assert book.balance == book.ledger_sum == 10_000_000 - 750_000
    assert sum(r["credits_charged"] for r in records) == 0.75
    assert book.open_reservations == 0
    stored = await scalar(
        url, "SELECT COUNT(*) FROM audit_events WHERE arguments LIKE :k", k=f"%{own_key}%"
    )
    assert stored == 0


def test_filters_agree_in_the_admin_api_and_the_cli(gateway: RunningGateway) -> None:
    account_id, key = gateway.create_account(credits=5)
    tag = secrets.token_hex(3)
    with gateway.client(key) as http:
        for i in range(3):
            execute(http, "echo", {"message": f"m{i}"}, f"f-{tag}-{i}")
        execute(http, "fail.crash", {}, f"f-{tag}-x")
    with gateway.admin() as admin:
        everything = audit(admin, account_id=account_id)
        assert len(everything) == 4
        key_id = everything[0]["key_id"]
        assert len(audit(admin, key_id=key_id)) == 4
        assert len(audit(admin, account_id=account_id, tool="echo")) == 3
        failed = audit(admin, account_id=account_id, outcome="upstream_error")
        assert [r["request_id"] for r in failed] == [f"f-{tag}-x"]
        assert len(audit(admin, account_id=account_id, since="1h")) == 4
        assert audit(admin, account_id=account_id, until="1h") == []
        assert audit(admin, account_id=account_id, since="2000-01-01", until="2000-01-02") == []
        for bad in ({"since": "yesterday"}, {"cursor": "abc"}, {"limit": "0"}, {"colour": "red"}):
            refused = admin.get("/admin/v1/audit", params=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["error"]["code"] == "INVALID_REQUEST"
        export = admin.get("/admin/v1/audit/export", params={"account_id": account_id})
        assert export.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in export.text.splitlines()]
        assert [r["request_id"] for r in lines] == [r["request_id"] for r in everything[::-1]]
    with gateway.client(key) as http:  # not an admin key
        assert http.get("/admin/v1/audit").status_code == 403

    env = clean_env()
    ran = run_toolwire(
        "audit", "--data-dir", str(gateway.data_dir), "--account", account_id, "--tool", "echo",
        "--json", env=env,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    cli = [json.loads(line) for line in ran.out.splitlines()]
    assert cli == audit_json(gateway, account_id=account_id, tool="echo")
    table = run_toolwire("audit", "--data-dir", str(gateway.data_dir), "--key", key_id, env=env)
    assert table.code == 0 and f"f-{tag}-x" in table.out and "UPSTREAM_ERROR" in table.out
    out = gateway.data_dir / "export.jsonl"
    exported = run_toolwire(
        "audit", "export", "--data-dir", str(gateway.data_dir), "--account", account_id,
        "--since", "1h", "-o", str(out), env=env,
    )  # fmt: skip
    assert exported.code == 0, exported.err
    assert [json.loads(x)["request_id"] for x in out.read_text().splitlines()] == [
        r["request_id"] for r in everything[::-1]
    ]
    bad = run_toolwire("audit", "--data-dir", str(gateway.data_dir), "--since", "soon", env=env)
    assert bad.code == 1 and "since" in bad.err


def audit_json(gateway: RunningGateway, **params: str) -> list[dict[str, Any]]:
    with gateway.admin() as admin:
        return audit(admin, **params)


def test_metrics_count_exactly_the_calls_made(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=5)
    with gateway.client(key) as http:
        for i in range(4):
            execute(http, "echo", {"message": f"n{i}"}, f"m-{i}-{secrets.token_hex(3)}")
        execute(http, "nope_" + secrets.token_hex(4), {}, f"m-x-{secrets.token_hex(3)}")
        assert http.get("/metrics").status_code == 403  # an ordinary key may not scrape
    with httpx.Client(base_url=gateway.url) as anon:
        assert anon.get("/metrics").status_code == 401
        assert anon.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        by_token = scrape(anon, Authorization=f"Bearer {METRICS_TOKEN}")
    with gateway.admin() as admin:
        samples = scrape(admin)
        every = audit(admin)  # every call this gateway made, in every test of this module
    assert by_token.keys() == samples.keys()
    expected = collections.Counter(
        (r["door"], "(unknown)" if r["outcome"] == "TOOL_NOT_FOUND" else r["tool"], r["outcome"])
        for r in every
    )
    counted = {
        (dict(labels)["door"], dict(labels)["tool"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "toolwire_calls_total"
    }
    assert counted == {k: float(v) for k, v in expected.items()}
    latency = {
        dict(labels)["tool"]: value
        for (name, labels), value in samples.items()
        if name == "toolwire_call_latency_seconds_count"
    }
    assert latency["echo"] == sum(1 for r in every if r["tool"] == "echo")
    credits = samples[("toolwire_credits_charged_total", (("tool", "echo"),))]
    assert credits == pytest.approx(sum(r["credits_charged"] for r in every if r["tool"] == "echo"))
    assert samples[("toolwire_reservations_in_flight", ())] == 0
    builtin = samples[("toolwire_upstream_latency_seconds_count", (("upstream", "builtin"),))]
    assert builtin == sum(1 for r in every if r["outcome"] in ("OK", "UPSTREAM_ERROR"))


async def test_a_clean_shutdown_under_load_loses_no_record(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, config=CONFIG, env={"PYTHONPATH": str(REPO)})
    try:
        account_id, key = gw.create_account(credits=1000)
        sent = [f"load-{i}" for i in range(240)]
        answered: list[str] = []
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(
            base_url=gw.url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
        ) as http:

            async def one(rid: str) -> None:
                try:
                    r = await http.post(
                        "/api/v1/execute",
                        json={"tool": "slow.sleep", "input": {"seconds": 0.05}},
                        headers={"X-Request-Id": rid},
                    )
                except httpx.HTTPError:
                    return  # refused or cut off by the shutdown: not answered
                if r.status_code == 200:
                    answered.append(rid)

            tasks = [asyncio.create_task(one(rid)) for rid in sent]
            while len(answered) < 40:  # well under way  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            gw.process.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
        # uvicorn shuts down gracefully, then re-raises the signal: exit status -SIGTERM
        assert await asyncio.to_thread(gw.process.wait, 30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in gw.logs()
    finally:
        gw.kill()
    url = database_url("sqlite", tmp_path)
    rows = await scalar(
        url, "SELECT COUNT(*) FROM audit_events WHERE account_id = :a", a=account_id
    )
    audited = await _request_ids(url, account_id)
    assert set(answered) <= audited <= set(sent)
    assert rows == len(audited)  # one record per call, none twice
    assert 40 <= len(answered) < len(sent)  # the shutdown did cut the load short
    assert rows - len(answered) <= 32  # at most the calls in flight when the answers were cut


async def _request_ids(url: str, account_id: str) -> set[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text("SELECT request_id FROM audit_events WHERE account_id = :a"), {"a": account_id}
            )
            return {row[0] for row in result}
    finally:
        await engine.dispose()


async def test_retention_prunes_old_records_and_metrics_can_have_their_own_port(
    tmp_path: Path,
) -> None:
    with running_gateway(tmp_path, config=CONFIG, env={"PYTHONPATH": str(REPO)}) as first:
        account_id, key = first.create_account(credits=5)
        with first.client(key) as http:
            for i in range(3):
                execute(http, "echo", {"message": "x"}, f"old-{i}")
    url = database_url("sqlite", tmp_path)
    await _age(url, ["old-0", "old-1"], datetime.now(UTC) - timedelta(days=10))
    port = free_port()
    env = {
        "PYTHONPATH": str(REPO),
        "TOOLWIRE_AUDIT_RETENTION_DAYS": "1",
        "TOOLWIRE_METRICS_PORT": str(port),
    }
    with running_gateway(tmp_path, config=CONFIG, env=env, admin_key=first.admin_key) as gw:

        async def pruned() -> bool:
            left = await _request_ids(url, account_id)
            return left == {"old-2"}

        await eventually(pruned)
        with gw.client(key) as http:
            execute(http, "echo", {"message": "y"}, "new-0")
        with gw.admin() as admin:
            assert admin.get("/metrics").status_code == 404
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as scraper:
            samples = scrape(scraper)
    labels = (("door", "rest"), ("outcome", "OK"), ("tool", "echo"))
    assert samples[("toolwire_calls_total", labels)] == 1.0


async def _age(url: str, request_ids: list[str], at: datetime) -> None:
    """Move records back in time, through the same column type the store writes."""
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import create_async_engine

    from toolwire.store.tables import audit_events

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            c = audit_events.c
            await conn.execute(
                update(audit_events).where(c.request_id.in_(request_ids)).values(at=at)
            )
    finally:
        await engine.dispose()
