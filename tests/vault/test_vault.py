"""The credential vault: sealed at rest, bound to its name and key; names listed, values never."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.errors import UpstreamError
from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store
from toolwire.store.secrets import SecretStore
from toolwire.store.tables import secrets
from toolwire.vault import Redactor, Sealer, Vault, VaultError
from toolwire.vault.crypto import derive_key

MASTER = bytes(range(32))
VALUE = "sk-live-0123456789abcdef"


def test_a_sealed_value_opens_only_under_its_own_name_and_key() -> None:
    sealer = Sealer(MASTER)
    token = sealer.seal("tavily", VALUE)
    assert VALUE not in token
    assert sealer.open("tavily", token) == VALUE
    with pytest.raises(VaultError):
        sealer.open("exa", token)
    with pytest.raises(VaultError):
        Sealer(bytes(32)).open("tavily", token)


def test_the_vault_key_is_derived_and_differs_from_the_gateway_secret() -> None:
    assert derive_key(MASTER) != MASTER
    assert len(derive_key(MASTER)) == 32


async def test_secrets_are_stored_encrypted_listed_by_name_and_deleted(store: Store) -> None:
    vault = Vault.over(SecretStore(store.engine), MASTER)
    assert await vault.set("tavily_api_key", VALUE) is True
    assert await vault.set("tavily_api_key", VALUE + "x") is False
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(secrets.c.ciphertext))).scalar_one()
    assert VALUE not in stored
    listed = [info.to_dict() for info in await vault.list()]
    assert [row["name"] for row in listed] == ["tavily_api_key"]
    assert VALUE not in repr(listed)
    fresh = Vault.over(SecretStore(store.engine), MASTER)
    assert await fresh.get("tavily_api_key") == VALUE + "x"
    assert await vault.delete("tavily_api_key") is True
    assert await vault.delete("tavily_api_key") is False
    assert await Vault.over(SecretStore(store.engine), MASTER).get("tavily_api_key") is None


async def test_loading_registers_every_value_with_the_redactor(store: Store) -> None:
    await Vault.over(SecretStore(store.engine), MASTER).set("k", VALUE)
    redactor = Redactor()
    assert await Vault.over(SecretStore(store.engine), MASTER, redactor).load() == 1
    assert redactor.scrub(f"key={VALUE}") == "key=[REDACTED]"


async def test_invalid_names_and_empty_values_are_refused(store: Store) -> None:
    vault = Vault.over(SecretStore(store.engine), MASTER)
    for name in ("", "1abc", "a b", "x" * 200):
        with pytest.raises(VaultError):
            await vault.set(name, VALUE)
    with pytest.raises(VaultError):
        await vault.set("ok", "")


async def test_resolving_an_unset_credential_is_an_upstream_error(store: Store) -> None:
    vault = Vault.over(SecretStore(store.engine), MASTER)
    schema = {"type": "object"}
    op = OperationSpec("run", "d", schema, adapter=None, credentials={"secret": "missing"})  # type: ignore[arg-type]
    operation = next(iter(Catalog([ToolSpec("t", "d", (op,))])))
    who = Principal("k", "a", ScopeSet(["*"]))
    with pytest.raises(UpstreamError) as caught:
        await vault.resolve(who, operation)
    assert caught.value.details["reason"] == "credential_missing"
    await vault.set("missing", VALUE)
    resolved = await vault.resolve(who, operation)
    assert (dict(resolved.values), resolved.source) == ({"secret": VALUE}, "platform")


async def test_a_secret_sealed_under_another_key_is_reported_unreadable(store: Store) -> None:
    await Vault.over(SecretStore(store.engine), bytes(32)).set("k", VALUE)
    vault = Vault.over(SecretStore(store.engine), MASTER)
    assert await vault.load() == 1  # logged, skipped
    schema = {"type": "object"}
    op = OperationSpec("run", "d", schema, adapter=None, credentials={"secret": "k"})  # type: ignore[arg-type]
    operation = next(iter(Catalog([ToolSpec("t", "d", (op,))])))
    with pytest.raises(UpstreamError) as caught:
        await vault.resolve(Principal("k", "a", ScopeSet(["*"])), operation)
    assert caught.value.details["reason"] == "credential_unreadable"
