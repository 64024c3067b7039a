"""The SDK's admin sub-API (`client.admin`), for admin keys, against a real gateway."""

from __future__ import annotations

from typing import Any

import pytest

from toolwire.client import Forbidden, InvalidRequest, NotFound, Unauthenticated
from toolwire.core.admin import MAX_CREDITS


async def test_an_admin_creates_an_account_and_a_key_that_works(
    admin: Any, make_client: Any
) -> None:
    account = await admin.create_account("sdk-admin", credits=12.5)
    created = await admin.create_key(account["id"], name="worker", scopes=["calc.*"])

    assert account["balance"] == 12.5
    assert created["key"]["account_id"] == account["id"]
    assert created["key"]["scopes"] == ["calc.*"]
    assert created["secret"].startswith("tw_")
    me = await make_client(api_key=created["secret"]).me()
    assert me["account_id"] == account["id"]
    assert me["scopes"] == ["calc.*"]


async def test_an_admin_grants_credits_and_reads_the_balance(admin: Any) -> None:
    account = await admin.create_account("sdk-grant")

    after = await admin.grant(account["id"], "0.000001", note="smallest unit")

    assert after == 0.000001
    assert await admin.balance(account["id"]) == 0.000001


async def test_an_admin_lists_accounts_and_keys_and_revokes_a_key(admin: Any) -> None:
    account = await admin.create_account("sdk-list", credits=1)
    created = await admin.create_key(account["id"])
    key_id = created["key"]["id"]

    revoked = await admin.revoke_key(key_id)

    assert account["id"] in {a["id"] for a in await admin.list_accounts()}
    assert (await admin.get_account(account["id"]))["name"] == "sdk-list"
    assert [k["id"] for k in await admin.list_keys(account["id"])] == [key_id]
    assert revoked["revoked_at"] is not None


async def test_admin_calls_for_an_unknown_account_raise_not_found(admin: Any) -> None:
    with pytest.raises(NotFound) as caught:
        await admin.balance("acc_does_not_exist")

    assert caught.value.code == "NOT_FOUND"
    assert caught.value.status == 404


async def test_a_grant_that_is_not_positive_is_an_invalid_request(admin: Any) -> None:
    account = await admin.create_account("sdk-negative")

    with pytest.raises(InvalidRequest) as caught:
        await admin.grant(account["id"], -5)

    assert caught.value.status == 400


async def test_the_admin_api_refuses_a_key_that_is_not_an_admin_key(client: Any) -> None:
    with pytest.raises(Forbidden):
        await client.admin.list_accounts()


async def test_the_admin_api_refuses_a_call_without_a_key(make_client: Any) -> None:
    with pytest.raises(Unauthenticated):
        await make_client(api_key="").admin.list_accounts()


@pytest.mark.parametrize("amount", [MAX_CREDITS + 1, "9223372036854", "1e400"])
async def test_amounts_over_the_one_limit_are_refused_server_side(admin: Any, amount: Any) -> None:
    """The SDK sends amounts as given; the gateway's `Admin` applies the same limits as the CLI."""
    account = await admin.create_account("sdk-limits")

    with pytest.raises(InvalidRequest):
        await admin.grant(account["id"], amount)
    with pytest.raises(InvalidRequest):
        await admin.create_account("sdk-too-rich", credits=amount)
    assert await admin.balance(account["id"]) == 0


async def test_an_admin_pages_through_the_audit_with_filters(admin: Any, make_client: Any) -> None:
    account = await admin.create_account("sdk-audit", credits=10)
    created = await admin.create_key(account["id"])
    worker = make_client(api_key=created["secret"])
    for i in range(3):
        await worker.execute("echo", {"message": f"a{i}"})

    first = await admin.audit(account_id=account["id"], tool="echo", since="1h", limit=2)
    second = await admin.audit(account_id=account["id"], limit=2, cursor=first["next_cursor"])

    assert len(first["records"]) == 2 and second["next_cursor"] is None
    assert [r["outcome"] for r in first["records"] + second["records"]] == ["OK"] * 3
    with pytest.raises(InvalidRequest):
        await admin.audit(since="last tuesday")


async def test_a_key_limited_to_an_undeclared_virtual_server_is_refused(admin: Any) -> None:
    account = await admin.create_account("sdk-servers")
    with pytest.raises(InvalidRequest) as refused:
        await admin.create_key(account["id"], servers=["research"])
    assert refused.value.details == {"server": "research", "servers": []}
    unlimited = await admin.create_key(account["id"])
    assert unlimited["key"]["servers"] is None
