"""Bring your own key (BYOK): an account's own provider credentials, and the resolver using them.

What it is:

- `ByokStore`, over `byok_credentials`: set (create or replace), delete and list an account's
  credentials, one per provider. Values are sealed with `toolwire.sealing.TokenSealer` (AES-GCM
  under the gateway secret, the vault's key and token format), bound to the account and
  provider, and are never returned by any API: the list shows provider names and dates only.
- `ByokStore.values` is the `toolwire.core.ports.OwnKeys` port the call path reads. Whether a
  call uses the caller's own keys or the platform's vault is the core's choice
  (`Gateway.credentials_for`), and what a value may be is the `Admin` service's; this module
  only keeps rows.

A provider is the name an operation's credential slot refers to (e.g. ``tavily`` in an upstream's
``auth: {type: bearer, secret: tavily}``), the same name the operator's platform secret has: a
customer's key stands in for the operator's. Only providers the catalog references are accepted.

What it is not: the platform vault (`toolwire.vault`), nor redaction of values elsewhere: every
value read is registered with the redactor, when one is given, so logs never show it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.errors import NotFound
from toolwire.core.read_through import ReadThrough
from toolwire.core.records import ByokInfo
from toolwire.sealing import TokenSealer
from toolwire.store._common import upsert_insert, utcnow
from toolwire.store.tables import accounts, byok_credentials

CACHE_SECONDS = 5.0
_t = byok_credentials.c


def _aad(account_id: str, provider: str) -> str:
    return f"byok/{account_id}/{provider}"


class ByokStore:
    """Sealed per-account provider credentials, write-only from the outside."""

    def __init__(
        self,
        engine: AsyncEngine,
        master_key: bytes,
        *,
        on_value: Callable[[str], None] | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._engine = engine
        self._sealer = TokenSealer(master_key)
        self._on_value = on_value
        self._cache: ReadThrough[str, dict[str, str]] = ReadThrough(self._read, cache_seconds)

    async def put(self, account_id: str, provider: str, value: str) -> tuple[ByokInfo, bool]:
        """Create or replace; returns the info and whether it was new. The value's rules are
        the `Admin` service's (`toolwire.core.admin.MAX_BYOK_VALUE`)."""
        sealed = self._sealer.seal(_aad(account_id, provider), value)
        now = utcnow()
        insert = (
            upsert_insert(self._engine, byok_credentials)
            .values(
                account_id=account_id,
                provider=provider,
                ciphertext=sealed,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[_t.account_id, _t.provider])
        )
        try:
            async with self._engine.begin() as conn:
                created = (await conn.execute(insert)).rowcount == 1
                if not created:
                    await conn.execute(
                        update(byok_credentials)
                        .where(_t.account_id == account_id, _t.provider == provider)
                        .values(ciphertext=sealed, updated_at=now)
                    )
                row: datetime = (
                    await conn.execute(
                        select(_t.created_at).where(
                            _t.account_id == account_id, _t.provider == provider
                        )
                    )
                ).scalar_one()
        except IntegrityError:
            raise _unknown_account(account_id) from None
        self._cache.forget(account_id)
        if self._on_value is not None:
            self._on_value(value)
        return ByokInfo(account_id, provider, row, now), created

    async def delete(self, account_id: str, provider: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(byok_credentials).where(_t.account_id == account_id, _t.provider == provider)
            )
        self._cache.forget(account_id)
        return result.rowcount == 1

    async def list(self, account_id: str) -> list[ByokInfo]:
        async with self._engine.connect() as conn:
            exists = (
                await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
            ).first()
            if exists is None:
                raise _unknown_account(account_id)
            rows = await conn.execute(
                select(_t.provider, _t.created_at, _t.updated_at)
                .where(_t.account_id == account_id)
                .order_by(_t.provider)
            )
            return [ByokInfo(account_id, r.provider, r.created_at, r.updated_at) for r in rows]

    async def values(self, account_id: str) -> dict[str, str]:
        """provider -> value for the call path, read once per `cache_seconds` by one caller at a
        time (`core.read_through`); never exposed by an API."""
        return await self._cache.get(account_id)

    async def _read(self, account_id: str) -> dict[str, str]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(_t.provider, _t.ciphertext).where(_t.account_id == account_id)
            )
            found = {
                r.provider: self._sealer.open(_aad(account_id, r.provider), r.ciphertext)
                for r in rows
            }
        if self._on_value is not None:
            for value in found.values():
                self._on_value(value)
        return found


def _unknown_account(account_id: str) -> NotFound:
    return NotFound("no such account", details={"account_id": account_id})
