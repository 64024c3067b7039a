"""`Admin.create_own_key` and `Admin.revoke_own_key`: what a customer may do to keys from the
console, over a real store (SQLite and PostgreSQL): never wider, never another account's."""

from __future__ import annotations

import pytest

from toolwire.core.admin import Admin
from toolwire.core.errors import Forbidden, InvalidRequest, NotFound
from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store


def principal_of(key_id: str, account_id: str, scopes: list[str]) -> Principal:
    return Principal(key_id, account_id, ScopeSet(scopes))


async def test_a_customer_makes_keys_within_its_scopes_and_revokes_only_its_own(
    store: Store,
) -> None:
    admin = Admin(store.accounts)
    mine = await admin.create_account("mine")
    theirs = await admin.create_account("theirs")
    own, _ = await admin.create_key(mine.id, "own", ["echo", "calc.*"])
    other, _ = await admin.create_key(theirs.id, "other", ["*"])
    me = principal_of(own.id, mine.id, list(own.scopes))

    made, secret = await admin.create_own_key(me, "narrow", ["calc.evaluate"])
    assert (made.account_id, made.scopes, secret.startswith("tw_")) == (
        mine.id,
        ("calc.evaluate",),
        True,
    )
    with pytest.raises(Forbidden):
        await admin.create_own_key(me, "wide", ["*"])
    with pytest.raises(InvalidRequest):
        await admin.create_own_key(me, "bad", ["calc evaluate"])
    assert len(await admin.list_keys(mine.id)) == 2  # nothing made by the refusals

    with pytest.raises(NotFound):
        await admin.revoke_own_key(me, other.id)
    assert not (await admin.list_keys(theirs.id))[0].revoked
    assert (await admin.revoke_own_key(me, made.id)).revoked
