"""Billing features end to end on a real `toolwire serve` over SQLite and PostgreSQL: BYOK,
idempotent retries, key budgets, low-balance receipts and usage reports."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_urls
from tests.support.billing_tools import PROVIDER, digest
from tests.support.books import database_url, eventually, scalar
from tests.support.cluster import scratch_postgres
from toolwire.core.admin import MAX_BYOK_VALUE
from toolwire.testing import RunningGateway, running_gateway

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "builtins": {"modules": ["tests.support.tools", "tests.support.billing_tools"]},
    "prices": {"echo": 0.25, "slow": 1, "acme": 2, "fail": 1},
}


@pytest.fixture(scope="module", params=database_urls())
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """One gateway per backend for the module: each test makes its own account (and keys), so
    they share nothing but the process, and the module starts 2 gateways instead of 16."""
    env = {"PYTHONPATH": str(REPO)}
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            env["TOOLWIRE_DATABASE_URL"] = stack.enter_context(scratch_postgres())
        data = tmp_path_factory.mktemp(f"billing-{request.param}")
        yield stack.enter_context(running_gateway(data, config=CONFIG, env=env))


@pytest.fixture
def own_gateway(db_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway of the test's own (on `db_url`), for a test that stops it to read its logs."""
    env = {"PYTHONPATH": str(REPO)}
    if db_url.startswith("postgresql"):
        env["TOOLWIRE_DATABASE_URL"] = db_url
    with running_gateway(tmp_path, config=CONFIG, env=env) as gw:
        yield gw


def call(
    http: httpx.Client, tool: str, payload: dict[str, object], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return http.post("/api/v1/execute", json={"tool": tool, "input": payload}, headers=headers)


def balance(http: httpx.Client) -> float:
    return float(http.get("/api/v1/me").json()["balance"])


# BYOK


async def test_byok_runs_on_the_callers_credential_free_and_never_shows_it(
    own_gateway: RunningGateway, db_url: str, tmp_path: Path
) -> None:
    gateway = own_gateway
    own = f"sk-acme-caller-{secrets.token_hex(12)}"
    account_id, key = gateway.create_account(credits=10)
    with gateway.admin() as admin, gateway.client(key) as http:
        refused = call(http, "acme.whoami", {})
        assert refused.status_code == 502
        assert refused.json()["error"]["details"]["reason"] == "credential_missing"
        put = admin.put(f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}", json={"value": own})
        assert put.status_code == 201
        reply = call(http, "acme.whoami", {})
        assert reply.status_code == 200
        body = reply.json()
        assert body["data"] == {"credential_sha256": digest(own)}
        assert body["meta"]["credential_source"] == "byok"
        assert body["meta"]["credits_charged"] == 0
        assert balance(http) == 10
        listed = admin.get(f"/admin/v1/accounts/{account_id}/byok")
        assert [c["provider"] for c in listed.json()["credentials"]] == [PROVIDER]
        replaced = admin.put(
            f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}", json={"value": own + "2"}
        )
        assert replaced.status_code == 200
        assert call(http, "acme.whoami", {}).json()["data"]["credential_sha256"] == digest(
            own + "2"
        )
        seen = put.text + listed.text + replaced.text + reply.text
        assert own not in seen
        deleted = admin.delete(f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}")
        assert deleted.status_code == 200
        assert call(http, "acme.whoami", {}).status_code == 502
    gateway.stop()
    assert own not in gateway.logs()
    url = database_url(db_url, tmp_path)
    assert await scalar(url, "SELECT COUNT(*) FROM audit_events WHERE credential_source = 'byok'")
    for table, column in (("audit_events", "message"), ("byok_credentials", "ciphertext")):
        query = f"SELECT COUNT(*) FROM {table} WHERE {column} LIKE :v"
        rows = await scalar(url, query, v="%sk-acme%")
        assert rows == 0


def test_byok_for_an_unknown_provider_or_account_is_refused(gateway: RunningGateway) -> None:
    account_id, key = gateway.create_account(credits=1)
    with gateway.admin() as admin, gateway.client(key) as http:
        unknown = admin.put(f"/admin/v1/accounts/{account_id}/byok/nope", json={"value": "x"})
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
        nobody = admin.put(f"/admin/v1/accounts/acc_missing/byok/{PROVIDER}", json={"value": "x"})
        assert (nobody.status_code, nobody.json()["error"]["code"]) == (404, "NOT_FOUND")
        empty = admin.put(f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}", json={"value": ""})
        assert empty.json()["error"]["code"] == "INVALID_REQUEST"
        long = "k" * (MAX_BYOK_VALUE + 1)  # the Admin service's rule, not the store's
        too_long = admin.put(
            f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}", json={"value": long}
        )
        assert too_long.json()["error"]["code"] == "INVALID_REQUEST"
        as_caller = http.get(f"/admin/v1/accounts/{account_id}/byok")
        assert as_caller.json()["error"]["code"] == "FORBIDDEN"
        mine = http.put(f"/api/v1/me/byok/{PROVIDER}", json={"value": "sk-self-service"})
        assert mine.status_code == 201
        assert "sk-self-service" not in http.get("/api/v1/me/byok").text


# idempotency


def test_a_retry_with_the_same_idempotency_key_returns_the_first_result_charged_once(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=10)
    with gateway.client(key) as http:
        first = call(http, "echo", {"message": "once"}, key="retry-1")
        again = call(http, "echo", {"message": "once"}, key="retry-1")
        assert first.status_code == again.status_code == 200
        assert again.json()["data"] == first.json()["data"]
        assert again.json()["meta"]["request_id"] == first.json()["meta"]["request_id"]
        assert again.json()["meta"]["replayed"] is True
        assert "replayed" not in first.json()["meta"]
        assert balance(http) == 9.75
        # A replay's receipt carries the balance as it is now, like every receipt.
        assert again.json()["meta"]["balance"] == first.json()["meta"]["balance"] == 9.75
        other = call(http, "echo", {"message": "different"}, key="retry-1")
        assert (other.status_code, other.json()["error"]["code"]) == (409, "CONFLICT")
        assert other.json()["error"]["details"]["reason"] == "key_reused"
        too_long = call(http, "echo", {"message": "x"}, key="k" * 256)
        assert (too_long.status_code, too_long.json()["error"]["code"]) == (400, "INVALID_REQUEST")
        failed = call(http, "fail.crash", {}, key="crash-1")
        assert (
            call(http, "fail.crash", {}, key="crash-1").json()["meta"]["request_id"]
            == (failed.json()["meta"]["request_id"])
        )
        assert balance(http) == 9.75


def test_a_call_refused_for_credits_gives_its_idempotency_key_back(
    gateway: RunningGateway,
) -> None:
    account_id, key = gateway.create_account(credits=0.1)
    with gateway.admin() as admin, gateway.client(key) as http:
        assert call(http, "echo", {"message": "m"}, key="k1").status_code == 402
        admin.post(f"/admin/v1/accounts/{account_id}/credits", json={"amount": 1})
        assert call(http, "echo", {"message": "m"}, key="k1").status_code == 200
        assert balance(http) == 0.85


async def test_a_duplicate_sent_while_the_first_call_runs_is_refused_then_replayed(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=10)
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "slow-1"}
    body = {"tool": "slow.sleep", "input": {"seconds": 1.5}}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as http:
        first = asyncio.create_task(http.post("/api/v1/execute", json=body))

        async def reserved() -> bool:  # the first call holds its reservation
            return float((await http.get("/api/v1/me")).json()["balance"]) == 9

        await eventually(reserved)
        duplicate = await http.post("/api/v1/execute", json=body)
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["details"]["reason"] == "in_progress"
        done = await first
        replay = await http.post("/api/v1/execute", json=body)
        assert replay.json()["data"] == done.json()["data"]
        assert replay.json()["meta"]["replayed"] is True
        assert float((await http.get("/api/v1/me")).json()["balance"]) == 9


# budgets and thresholds


def test_a_key_over_its_hourly_budget_is_refused_and_other_keys_are_not(
    gateway: RunningGateway,
) -> None:
    account_id, key = gateway.create_account(credits=10)
    with gateway.admin() as admin:
        other = admin.post(f"/admin/v1/accounts/{account_id}/keys", json={"name": "b"}).json()
        key_id = admin.get("/admin/v1/keys", params={"account_id": account_id}).json()["keys"][0]
        put = admin.put(f"/admin/v1/keys/{key_id['id']}/budget", json={"hour": 1, "day": 5})
        assert put.json()["budget"]["hour"] == 1
    with gateway.client(key) as http, gateway.client(other["secret"]) as http2:
        codes = [call(http, "echo", {"message": str(i)}).status_code for i in range(6)]
        assert codes == [200, 200, 200, 200, 429, 429]
        refused = call(http, "echo", {"message": "x"})
        assert refused.json()["error"]["code"] == "BUDGET_EXCEEDED"
        assert refused.json()["error"]["details"]["window"] == "hour"
        assert int(refused.headers["retry-after"]) >= 1
        assert call(http2, "echo", {"message": "x"}).status_code == 200
        assert balance(http) == 8.75
    with gateway.admin() as admin:
        shown = admin.get(f"/admin/v1/keys/{key_id['id']}/budget").json()["budget"]
        assert (shown["spent_hour"], shown["spent_day"]) == (1, 1)
        bad = admin.put(f"/admin/v1/keys/{key_id['id']}/budget", json={"hour": -1})
        assert bad.json()["error"]["code"] == "INVALID_REQUEST"


def test_receipts_flag_a_balance_at_or_below_the_accounts_threshold(
    gateway: RunningGateway,
) -> None:
    account_id, key = gateway.create_account(credits=1)
    with gateway.client(key) as http:
        assert "low_balance" not in call(http, "echo", {"message": "a"}).json()["meta"]
    with gateway.admin() as admin:
        patched = admin.patch(f"/admin/v1/accounts/{account_id}", json={"low_balance": 0.5})
        assert patched.json()["account"]["low_balance"] == 0.5
    with gateway.client(key) as http:
        assert call(http, "echo", {"message": "b"}).json()["meta"]["low_balance"] is True


# usage


async def test_usage_reports_calls_failures_and_credits_per_key_tool_and_day(
    gateway: RunningGateway,
) -> None:
    account_id, key = gateway.create_account(credits=10)
    with gateway.client(key) as http:
        call(http, "no_such_tool.made_up", {})  # a refusal, not a call of a tool
        for i in range(3):
            call(http, "echo", {"message": str(i)})
        call(http, "fail.crash", {})
        call(http, "echo", {"message": "0"}, key="u1")
        call(http, "echo", {"message": "0"}, key="u1")  # a replay is not a second call
    with gateway.admin() as admin:
        async with asyncio.timeout(10):  # audit events are written in batches
            while True:
                rows = admin.get("/admin/v1/usage", params={"account_id": account_id}).json()
                if sum(r["calls"] for r in rows["usage"]) == 5:
                    break
                await asyncio.sleep(0.05)
        by_tool = {r["tool"]: r for r in rows["usage"]}
        assert set(by_tool) == {"echo", "fail"}  # the made-up name is no tool of the report
        audited = admin.get("/admin/v1/audit", params={"account_id": account_id}).json()
        refused = [r for r in audited["records"] if r["tool"].startswith("no_such_tool")]
        assert [r["outcome"] for r in refused] == ["TOOL_NOT_FOUND"]  # the audit keeps it
        assert (by_tool["echo"]["calls"], by_tool["echo"]["failures"]) == (4, 0)
        assert by_tool["echo"]["credits"] == 1
        assert (by_tool["fail"]["calls"], by_tool["fail"]["failures"]) == (1, 1)
        assert by_tool["fail"]["credits"] == 0
        text = admin.get("/admin/v1/usage", params={"account_id": account_id, "format": "csv"})
        assert text.headers["content-type"].startswith("text/csv")
        parsed = list(csv.DictReader(io.StringIO(text.text)))
        assert {r["tool"]: r["calls"] for r in parsed} == {"echo": "4", "fail": "1"}
        bad = admin.get("/admin/v1/usage", params={"since": "yesterday"})
        assert bad.json()["error"]["code"] == "INVALID_REQUEST"


def test_a_byok_call_is_charged_the_configured_platform_fee_not_the_price(
    db_url: str, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(REPO)}
    if db_url.startswith("postgresql"):
        env["TOOLWIRE_DATABASE_URL"] = db_url
    config = {**CONFIG, "byok_fees": {"acme": 0.5}}
    with running_gateway(tmp_path, config=config, env=env) as gw:
        account_id, key = gw.create_account(credits=10)
        with gw.admin() as admin, gw.client(key) as http:
            own = f"sk-acme-fee-{secrets.token_hex(8)}"
            put = admin.put(f"/admin/v1/accounts/{account_id}/byok/{PROVIDER}", json={"value": own})
            assert put.status_code == 201
            reply = call(http, "acme.whoami", {})
            assert reply.status_code == 200
            assert reply.json()["meta"]["credential_source"] == "byok"
            assert reply.json()["meta"]["credits_charged"] == 0.5
            assert balance(http) == 9.5
