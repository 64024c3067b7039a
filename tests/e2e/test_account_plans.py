"""Plans stored per account (migration 0006): the admin API and `toolwire accounts set-plan`
put an account on a catalog plan; its per-account rate limit follows the stored plan at once in
the gateway that took the change, and within the key-cache window when another process (the CLI)
wrote it. A stored plan wins over the catalog's `accounts` list, which stays as the fallback for
accounts with none. Bad names, unknown plans, unknown accounts and unknown fields are refused
and change nothing. One real gateway process (SQLite, in-memory limits)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import clean_env, run_toolwire
from toolwire.testing import RunningGateway, running_gateway

KEY_CACHE_S = 1
CONFIG = {
    "builtins": {"include": ["echo", "uuid"]},
    "limits": {
        "plans": {
            "default": {"per_account": "1/hour"},
            "pro": {"per_account": "3/hour"},
            "listed": {"per_account": "2/hour", "accounts": []},
        }
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env = {"TOOLWIRE_KEY_CACHE_SECONDS": str(KEY_CACHE_S)}
    with running_gateway(tmp_path_factory.mktemp("plans"), config=CONFIG, env=env) as gw:
        yield gw


def call(gw: RunningGateway, key: str) -> httpx.Response:
    with gw.client(key) as http:
        return http.post("/api/v1/execute", json={"tool": "uuid", "input": {}})


def refused_by(reply: httpx.Response) -> str:
    assert reply.status_code == 429, reply.text
    rule: str = reply.json()["error"]["details"]["rule"]
    return rule


def patch(gw: RunningGateway, account: str, body: Any) -> httpx.Response:
    with gw.admin() as admin:
        return admin.patch(f"/admin/v1/accounts/{account}", json=body)


def test_a_plan_set_through_the_admin_api_applies_at_once(gateway: RunningGateway) -> None:
    account, key = gateway.create_account(credits=10)
    assert call(gateway, key).status_code == 200
    assert refused_by(call(gateway, key)) == "limits.plans.default.per_account"
    reply = patch(gateway, account, {"plan": "pro"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["account"]["plan"] == "pro"
    assert [call(gateway, key).status_code for _ in range(3)] == [200] * 3
    assert refused_by(call(gateway, key)) == "limits.plans.pro.per_account"
    with gateway.admin() as admin:
        assert admin.get(f"/admin/v1/accounts/{account}").json()["account"]["plan"] == "pro"
        listed = admin.get("/admin/v1/accounts").json()["accounts"]
    assert {a["id"]: a["plan"] for a in listed}[account] == "pro"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"plan": "gold"}, 400, "no plan 'gold'"),
        ({"plan": "9lives"}, 400, "a plan name"),
        ({"plan": "x" * 31}, 400, "a plan name"),
        ({"plan": 7}, 400, "a plan name"),
        ({"tier": "pro"}, 400, "give 'low_balance'"),
        ({}, 400, "give 'low_balance'"),
        ({"plan": "pro", "low_balance": -1}, 400, "low_balance"),
    ],
)
def test_a_bad_plan_change_is_refused_and_changes_nothing(
    gateway: RunningGateway, body: Any, status: int, says: str
) -> None:
    account, _ = gateway.create_account(credits=1)
    assert patch(gateway, account, {"plan": "listed"}).status_code == 200
    reply = patch(gateway, account, body)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["error"]["message"]
    if body == {"plan": "gold"}:
        assert reply.json()["error"]["details"]["plans"] == ["default", "listed", "pro"]
    with gateway.admin() as admin:
        after = admin.get(f"/admin/v1/accounts/{account}").json()["account"]
    assert after["plan"] == "listed" and after["low_balance"] is None


def test_an_unknown_account_is_not_found(gateway: RunningGateway) -> None:
    reply = patch(gateway, "acc_nope", {"plan": "pro"})
    assert reply.status_code == 404, reply.text


def test_the_cli_sets_and_clears_a_plan_and_the_gateway_follows_within_the_cache_window(
    gateway: RunningGateway,
) -> None:
    account, key = gateway.create_account(credits=10)
    env = clean_env()
    where = ["--data-dir", str(gateway.data_dir)]
    ran = run_toolwire("accounts", "set-plan", account, "pro", *where, "--json", env=env)
    assert ran.code == 0, ran.err
    assert ran.json()["account"]["plan"] == "pro"
    time.sleep(KEY_CACHE_S + 0.5)  # the gateway's cached principal has expired
    assert [call(gateway, key).status_code for _ in range(3)] == [200] * 3
    assert refused_by(call(gateway, key)) == "limits.plans.pro.per_account"

    ran = run_toolwire("accounts", "set-plan", account, "--clear", *where, env=env)
    assert ran.code == 0, ran.err
    shown = run_toolwire("accounts", "show", account, *where, "--json", env=env)
    assert shown.json()["account"]["plan"] is None
    bad = run_toolwire("accounts", "set-plan", account, "pro", "--clear", *where, env=env)
    assert bad.code == 1 and "not both" in bad.err
    bad = run_toolwire("accounts", "set-plan", account, "-x", *where, env=env)
    assert bad.code != 0
    bad = run_toolwire("accounts", "set-plan", account, "bad name", *where, env=env)
    assert bad.code == 1 and "plan name" in bad.err
    time.sleep(KEY_CACHE_S + 0.5)
    assert call(gateway, key).status_code == 200  # the default plan's one call an hour
    assert refused_by(call(gateway, key)) == "limits.plans.default.per_account"


def test_the_migration_left_existing_accounts_without_a_plan(tmp_path: Path) -> None:
    ran = run_toolwire(
        "accounts", "create", "old", "--data-dir", str(tmp_path), "--json", env=clean_env()
    )
    assert ran.code == 0, ran.err
    assert ran.json()["account"]["plan"] is None
