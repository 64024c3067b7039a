"""Accounts, API keys, grants and system facts, for the admin API and the CLI.

What it is: `AccountStore`, plain transactional reads and writes for administration: create and
list accounts, issue, list and revoke keys (the secret is returned once, at creation), grant
credits (written to the ledger in the same transaction as the balance), read balances, the
ledger sum and history, and the `system_meta` facts (`set_meta_if_absent` is atomic, so exactly
one process bootstraps). The `*Info` dataclasses are what it returns; `to_dict()` renders them
JSON-ready (credits as decimal numbers, timestamps ISO 8601 UTC). What it is not: the call path.
Reservations go through `toolwire.store.ledger.SqlLedger`, keys are checked by
`toolwire.store.keys.SqlKeyStore`.

Amounts are integers in micro-credits (1 credit = 1_000_000), including `create_account`'s
`credits` argument; convert user input with `toolwire.core.model.credits_to_micro`.

On SQLite every write transaction here starts with its write statement, so it takes the write
lock first and waits on the busy timeout rather than failing on a lock upgrade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from toolwire.core.errors import Conflict, InvalidRequest, NotFound
from toolwire.core.records import AccountInfo, KeyInfo, LedgerEntryInfo
from toolwire.core.scopes import check_patterns
from toolwire.core.servers import check_server_names
from toolwire.store._common import ACCOUNT_PREFIX, is_positive_int, upsert_insert, utcnow
from toolwire.store.keys import generate_key, hash_secret, key_prefix, parse_key, random_id
from toolwire.store.tables import accounts, api_keys, ledger_entries, system_meta

MAX_HISTORY = 1000


_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.account_id,
    api_keys.c.name,
    api_keys.c.scopes,
    api_keys.c.is_admin,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
    api_keys.c.servers,
)


class AccountStore:
    """Administration of accounts, keys and credits over one `AsyncEngine`.

    `on_key_revoked(key_id)` is called after a key is revoked and `on_account_changed()` after an
    account is disabled or enabled, so a key cache in this process can forget what it knew.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        on_key_revoked: Callable[[str], None] | None = None,
        on_account_changed: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_key_revoked = on_key_revoked
        self._on_account_changed = on_account_changed

    # accounts

    async def create_account(
        self, name: str, credits: int = 0, *, low_balance: int | None = None
    ) -> AccountInfo:
        """A new account; `credits` (micro-credits) is written as a `grant`, same transaction."""
        name = _clean_name(name, "account")
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
            raise InvalidRequest("initial credits must be a non-negative integer of micro-credits")
        if low_balance is not None and (not isinstance(low_balance, int) or low_balance < 0):
            raise InvalidRequest("low_balance must be a non-negative integer of micro-credits")
        account_id = ACCOUNT_PREFIX + random_id()
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(accounts).values(
                    id=account_id,
                    name=name,
                    balance=credits,
                    low_balance=low_balance,
                    created_at=now,
                    disabled=False,
                )
            )
            if credits:
                await conn.execute(
                    insert(ledger_entries).values(
                        account_id=account_id,
                        kind="grant",
                        amount=credits,
                        charged=0,
                        note="initial credits",
                        created_at=now,
                    )
                )
        return AccountInfo(account_id, name, credits, low_balance, now, False)

    async def list_accounts(self) -> list[AccountInfo]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(accounts).order_by(accounts.c.created_at, accounts.c.id)
            )
            return [_account(row) for row in result]

    async def get_account(self, account_id: str) -> AccountInfo:
        async with self._engine.connect() as conn:
            return await _get_account(conn, account_id)

    async def set_disabled(self, account_id: str, disabled: bool) -> AccountInfo:
        """Disable (or re-enable) an account: its keys stop authenticating."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(disabled=disabled)
            )
            info = await _get_account(conn, account_id)
        if self._on_account_changed is not None:
            self._on_account_changed()
        return info

    async def set_plan(self, account_id: str, plan: str | None) -> AccountInfo:
        """Store the account's plan (a name `Admin.set_plan` has checked; None: clear it).
        This process's key cache forgets its principals, which carry the plan; other processes
        follow within their key-cache window. `NotFound` for an unknown account."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(plan=plan)
            )
            info = await _get_account(conn, account_id)
        if self._on_account_changed is not None:
            self._on_account_changed()
        return info

    # keys

    async def create_key(
        self,
        account_id: str,
        name: str,
        scopes: Sequence[str] = ("*",),
        is_admin: bool = False,
        *,
        raw_key: str | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[KeyInfo, str]:
        """Issue a key; returns its info and the raw key, which is never retrievable again.

        `servers`: the virtual servers the key is limited to (None: not limited), names checked
        by `toolwire.core.servers.check_server_names`. `raw_key` registers a key chosen
        elsewhere (e.g. an admin key given by configuration); it must have the
        ``tw_<id>_<secret>`` shape, and its id must be unused (else Conflict).
        """
        name = _clean_name(name, "key")
        if isinstance(scopes, str) or not all(isinstance(s, str) and s.strip() for s in scopes):
            raise InvalidRequest("scopes must be a list of non-empty strings")
        if raw_key is None:
            key_id, raw_key, secret_hash = generate_key()
        else:
            parsed = parse_key(raw_key)
            if parsed is None:
                raise InvalidRequest("a key must look like tw_<12 base32>_<32 base32>")
            key_id, secret_hash = parsed.key_id, hash_secret(parsed.secret)
        now = utcnow()
        scope_list = check_patterns(scopes)
        server_list = check_server_names(servers, None)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(api_keys).values(
                        id=key_id,
                        account_id=account_id,
                        name=name,
                        secret_hash=secret_hash,
                        scopes=orjson.dumps(scope_list).decode(),
                        is_admin=bool(is_admin),
                        created_at=now,
                        servers=None if server_list is None else orjson.dumps(server_list).decode(),
                    )
                )
        except IntegrityError:
            await self.get_account(account_id)  # raises NotFound for an unknown account
            raise Conflict(
                "a key with this id already exists", details={"key_id": key_id}
            ) from None
        info = KeyInfo(
            key_id, account_id, name, key_prefix(key_id), tuple(scope_list), bool(is_admin), now,
            None, None, None if server_list is None else tuple(server_list),
        )  # fmt: skip
        return info, raw_key

    async def list_keys(self, account_id: str | None = None) -> list[KeyInfo]:
        query = select(*_KEY_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        if account_id is not None:
            query = query.where(api_keys.c.account_id == account_id)
        async with self._engine.connect() as conn:
            return [_key(row) for row in await conn.execute(query)]

    async def get_key(self, key_id: str) -> KeyInfo:
        async with self._engine.connect() as conn:
            return await _get_key(conn, key_id)

    async def revoke_key(self, key_id: str) -> KeyInfo:
        """Revoke a key (idempotent: an already revoked key keeps its first revocation time)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            info = await _get_key(conn, key_id)
        if self._on_key_revoked is not None:
            self._on_key_revoked(key_id)
        return info

    # credits

    async def grant(
        self, account_id: str, amount: int, note: str | None = None, key_id: str | None = None
    ) -> int:
        """Add `amount` micro-credits (a positive integer); returns the new balance."""
        if not is_positive_int(amount):
            raise InvalidRequest(
                "a grant must be a positive integer of micro-credits", details={"amount": amount}
            )
        async with self._engine.begin() as conn:
            balance = (
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == account_id)
                    .values(balance=accounts.c.balance + amount)
                    .returning(accounts.c.balance)
                )
            ).scalar()
            if balance is None:
                raise _unknown_account(account_id)
            await conn.execute(
                insert(ledger_entries).values(
                    account_id=account_id,
                    key_id=key_id,
                    kind="grant",
                    amount=amount,
                    charged=0,
                    note=note,
                    created_at=utcnow(),
                )
            )
        return int(balance)

    async def balance(self, account_id: str) -> int:
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id))
            ).scalar()
        if value is None:
            raise _unknown_account(account_id)
        return int(value)

    async def ledger_sum(self, account_id: str) -> int:
        """SUM(amount) of the account's ledger entries: equals the balance, always."""
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
                        ledger_entries.c.account_id == account_id
                    )
                )
            ).scalar()
        return int(value or 0)

    async def history(self, account_id: str, limit: int = 50) -> list[LedgerEntryInfo]:
        """The account's most recent ledger entries, newest first."""
        limit = max(1, min(int(limit), MAX_HISTORY))
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.account_id == account_id)
            .order_by(ledger_entries.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                await _get_account(conn, account_id)
        return [_entry(row) for row in rows]

    # system facts

    async def get_meta(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(system_meta.c.value).where(system_meta.c.key == key))
            ).scalar()
        return None if value is None else str(value)

    async def set_meta_if_absent(self, key: str, value: str) -> bool:
        """Store `key` = `value` unless `key` exists; True when this call stored it (atomic)."""
        stmt = (
            upsert_insert(self._engine, system_meta)
            .values(key=key, value=value)
            .on_conflict_do_nothing(index_elements=[system_meta.c.key])
            .returning(system_meta.c.key)
        )
        async with self._engine.begin() as conn:
            inserted = (await conn.execute(stmt)).first()
        return inserted is not None


async def _get_account(conn: AsyncConnection, account_id: str) -> AccountInfo:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        raise _unknown_account(account_id)
    return _account(row)


async def _get_key(conn: AsyncConnection, key_id: str) -> KeyInfo:
    row = (await conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound("no such API key", details={"key_id": key_id})
    return _key(row)


def _unknown_account(account_id: str) -> NotFound:
    return NotFound("no such account", details={"account_id": account_id})


def _clean_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest(f"a {what} needs a non-empty name")
    return name.strip()


def _account(row: Row[Any]) -> AccountInfo:
    return AccountInfo(
        id=row.id,
        name=row.name,
        balance=int(row.balance),
        low_balance=None if row.low_balance is None else int(row.low_balance),
        created_at=row.created_at,
        disabled=bool(row.disabled),
        plan=row.plan,
    )


def _key(row: Row[Any]) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=key_prefix(row.id),
        scopes=tuple(orjson.loads(row.scopes)),
        is_admin=bool(row.is_admin),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        servers=None if row.servers is None else tuple(orjson.loads(row.servers)),
    )


def _entry(row: Row[Any]) -> LedgerEntryInfo:
    return LedgerEntryInfo(
        id=int(row.id),
        account_id=row.account_id,
        key_id=row.key_id,
        kind=row.kind,
        amount=int(row.amount),
        charged=int(row.charged),
        reservation_id=row.reservation_id,
        request_id=row.request_id,
        tool=row.tool,
        operation=row.operation,
        note=row.note,
        created_at=row.created_at,
    )
