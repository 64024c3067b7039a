"""API keys: issue, authenticate, cache, revoke."""

from __future__ import annotations

import asyncio

import pytest

from toolwire.core.errors import ToolwireError
from toolwire.store import Store
from toolwire.store.accounts import AccountStore
from toolwire.store.keys import SqlKeyStore, generate_key, parse_key


async def _account_and_key(store: Store, is_admin: bool = False) -> tuple[str, str, str]:
    account = await store.accounts.create_account("acme")
    scopes = ["search.*", "!search.admin"]
    info, raw = await store.accounts.create_key(account.id, "ci", scopes, is_admin=is_admin)
    return account.id, info.id, raw


async def test_a_created_key_authenticates_as_its_principal(store: Store) -> None:
    account_id, key_id, raw = await _account_and_key(store, is_admin=True)
    principal = await store.keys.authenticate(raw)
    assert principal is not None
    assert (principal.key_id, principal.account_id, principal.is_admin) == (
        key_id,
        account_id,
        True,
    )
    assert principal.name == "ci"
    assert principal.scopes.patterns == ["search.*", "!search.admin"]
    assert principal.scopes.permits("search", "web", "web")
    assert not principal.scopes.permits("search", "admin", "web")


async def test_a_revoked_key_no_longer_authenticates(store: Store) -> None:
    _, key_id, raw = await _account_and_key(store)
    assert await store.keys.authenticate(raw) is not None
    info = await store.accounts.revoke_key(key_id)
    assert info.revoked
    assert await store.keys.authenticate(raw) is None


async def test_the_cache_does_not_serve_a_revoked_key_after_invalidate(store: Store) -> None:
    _, key_id, raw = await _account_and_key(store)
    keys = SqlKeyStore(store.engine, cache_seconds=60)
    admin = AccountStore(store.engine)  # no callback: the revocation happens "elsewhere"
    assert await keys.authenticate(raw) is not None
    await admin.revoke_key(key_id)
    assert await keys.authenticate(raw) is not None  # still cached: bounded by cache_seconds
    keys.invalidate(key_id)
    assert await keys.authenticate(raw) is None


MALFORMED = [
    "",
    "tw_",
    "not a key at all",
    "tw_abcdefghijkl",
    "xx_abcdefghijkl_abcdefghijklmnopqrstuvwxyz234567",
    "tw_ABCDEFGHIJKL_abcdefghijklmnopqrstuvwxyz234567",
    "tw_abcdefghijkl-abcdefghijklmnopqrstuvwxyz234567",
    "tw_abcdefghijk_2abcdefghijklmnopqrstuvwxyz234567",
    "tw_abcdefghijkl_abcdefghijklmnopqrstuvwxyz23456_",
    "tw_abcdefghijkl_abcdefghijklmnopqrstuvwxyz2345678",
    "tw_abcdefghijkl_abcdefghijklmnopqrstuvwxyz23456\u00e9",
]


async def test_malformed_keys_are_rejected_without_a_query(store: Store) -> None:
    for raw in MALFORMED:
        assert await store.keys.authenticate(raw) is None, raw
    assert store.keys.db_lookups == 0


async def test_a_wrong_secret_or_an_unknown_id_is_rejected(store: Store) -> None:
    _, _, raw = await _account_and_key(store)
    wrong_secret = raw[:-1] + ("a" if raw[-1] != "a" else "b")
    assert await store.keys.authenticate(wrong_secret) is None
    unknown_id = generate_key()[1]
    assert await store.keys.authenticate(unknown_id) is None
    assert await store.keys.authenticate(raw) is not None


async def test_keys_of_a_disabled_account_do_not_authenticate(store: Store) -> None:
    account_id, _, raw = await _account_and_key(store)
    assert await store.keys.authenticate(raw) is not None
    await store.accounts.set_disabled(account_id, True)
    assert await store.keys.authenticate(raw) is None
    await store.accounts.set_disabled(account_id, False)
    assert await store.keys.authenticate(raw) is not None


async def test_a_steady_stream_of_calls_reads_the_database_once(store: Store) -> None:
    _, _, raw = await _account_and_key(store)
    results = await asyncio.gather(*(store.keys.authenticate(raw) for _ in range(50)))
    assert all(p is not None for p in results)
    for _ in range(100):
        assert await store.keys.authenticate(raw) is not None
    assert store.keys.db_lookups == 1


async def test_a_rejected_key_is_remembered_briefly(store: Store) -> None:
    _, _, raw = await _account_and_key(store)
    wrong = raw[:-1] + ("a" if raw[-1] != "a" else "b")
    for _ in range(10):
        assert await store.keys.authenticate(wrong) is None
    assert store.keys.db_lookups == 1


async def test_the_key_cache_stays_bounded(store: Store) -> None:
    account = await store.accounts.create_account("acme")
    keys = SqlKeyStore(store.engine, cache_seconds=60, cache_size=3)
    raws = [(await store.accounts.create_key(account.id, f"k{i}"))[1] for i in range(5)]
    for raw in raws:
        assert await keys.authenticate(raw) is not None
    assert keys.db_lookups == 5
    assert await keys.authenticate(raws[-1]) is not None  # recent: still cached
    assert keys.db_lookups == 5
    assert await keys.authenticate(raws[0]) is not None  # oldest: evicted
    assert keys.db_lookups == 6


async def test_key_info_shows_a_prefix_and_never_the_secret(store: Store) -> None:
    account = await store.accounts.create_account("acme")
    info, raw = await store.accounts.create_key(account.id, "ci")
    parsed = parse_key(raw)
    assert parsed is not None
    rendered = str(info.to_dict()) + str(await store.accounts.list_keys(account.id))
    assert parsed.secret not in rendered
    assert info.prefix == f"tw_{info.id}_…"
    assert info.to_dict()["scopes"] == ["*"]
    assert [k.id for k in await store.accounts.list_keys()] == [info.id]


async def test_a_given_raw_key_is_registered_once(store: Store) -> None:
    account = await store.accounts.create_account("acme")
    _, raw, _ = generate_key()
    info, returned = await store.accounts.create_key(
        account.id, "admin", is_admin=True, raw_key=raw
    )
    assert returned == raw
    principal = await store.keys.authenticate(raw)
    assert principal is not None and principal.is_admin and principal.key_id == info.id
    with pytest.raises(ToolwireError) as conflict:
        await store.accounts.create_key(account.id, "again", raw_key=raw)
    assert conflict.value.code == "CONFLICT"
    with pytest.raises(ToolwireError) as malformed:
        await store.accounts.create_key(account.id, "bad", raw_key="tw_nope")
    assert malformed.value.code == "INVALID_REQUEST"


async def test_keys_for_unknown_accounts_or_unknown_keys_are_not_found(store: Store) -> None:
    with pytest.raises(ToolwireError) as create:
        await store.accounts.create_key("acc_doesnotexist", "k")
    assert create.value.code == "NOT_FOUND"
    with pytest.raises(ToolwireError) as revoke:
        await store.accounts.revoke_key("nosuchkeyxyz")
    assert revoke.value.code == "NOT_FOUND"


async def test_revoking_twice_keeps_the_first_revocation(store: Store) -> None:
    _, key_id, _ = await _account_and_key(store)
    first = await store.accounts.revoke_key(key_id)
    second = await store.accounts.revoke_key(key_id)
    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at


async def test_key_usage_is_written_in_one_batch(store: Store) -> None:
    _, key_id, raw = await _account_and_key(store)
    assert (await store.accounts.get_key(key_id)).last_used_at is None
    await store.keys.authenticate(raw)
    assert await store.keys.flush_usage() == 1
    assert (await store.accounts.get_key(key_id)).last_used_at is not None
    assert await store.keys.flush_usage() == 0
