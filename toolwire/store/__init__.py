"""Durable storage: SQLAlchemy 2 async Core over SQLite (aiosqlite) or PostgreSQL (asyncpg).

What it is: `Store`, the one object the app and the CLI open: `await Store.open(url)` creates the
engine, migrates the schema to head (safe at every start, and from several processes at once),
and starts the background writers; `.keys` (`KeyStore` port), `.ledger` (`Ledger` port),
`.audit` (`AuditSink` port) and `.accounts` (administration) share one engine. `await
store.close()` flushes everything queued and disposes of the engine.

What it is not: ephemeral shared state (rate limits, caches: `toolwire.state`) nor the call
path. Money is integers in micro-credits everywhere here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.records import AccountInfo, KeyInfo, LedgerEntryInfo
from toolwire.store.accounts import AccountStore
from toolwire.store.audit_sink import AuditRecord, SqlAuditSink
from toolwire.store.boundary import guard
from toolwire.store.db import (
    PG_COMMAND_TIMEOUT_S,
    PG_CONNECT_TIMEOUT_S,
    PG_POOL_TIMEOUT_S,
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
)
from toolwire.store.keys import SqlKeyStore
from toolwire.store.ledger import DEFAULT_STALE_AFTER, SqlLedger
from toolwire.store.migrations import migrate

__all__ = [
    "AccountInfo",
    "AccountStore",
    "AuditRecord",
    "KeyInfo",
    "LedgerEntryInfo",
    "SqlAuditSink",
    "SqlKeyStore",
    "SqlLedger",
    "Store",
    "migrate",
]

log = logging.getLogger("toolwire.store")

USAGE_FLUSH_SECONDS = 30.0


class Store:
    """The durable services over one engine. Build it with `await Store.open(url)`."""

    def __init__(
        self,
        engine: AsyncEngine,
        keys: SqlKeyStore,
        accounts: AccountStore,
        ledger: SqlLedger,
        audit: SqlAuditSink,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.accounts = accounts
        self.ledger = ledger
        self.audit = audit
        self._usage_task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        key_cache_seconds: float = 5.0,
        stale_after: float = DEFAULT_STALE_AFTER,
        run_migrations: bool = True,
        connect_timeout_s: float = PG_CONNECT_TIMEOUT_S,
        pool_timeout_s: float = PG_POOL_TIMEOUT_S,
        statement_timeout_s: float = PG_COMMAND_TIMEOUT_S,
        busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
    ) -> Store:
        """Connect to `url` (``sqlite+aiosqlite:///abs/path.db`` or ``postgresql+asyncpg://...``),
        migrate to head, and start the writers. The timeouts (seconds; PostgreSQL's three,
        SQLite's `busy_timeout_s`) are `toolwire.store.db.create_engine`'s. The key store,
        accounts and ledger sit behind the store's boundary (`toolwire.store.boundary.guard`):
        an unreachable database reaches their callers as `Unavailable`."""
        if run_migrations:
            await migrate(url)
        engine = create_engine(
            url,
            connect_timeout_s=connect_timeout_s,
            pool_timeout_s=pool_timeout_s,
            statement_timeout_s=statement_timeout_s,
            busy_timeout_s=busy_timeout_s,
        )
        try:
            keys = SqlKeyStore(engine, key_cache_seconds)
            accounts = AccountStore(
                engine, on_key_revoked=keys.invalidate, on_account_changed=keys.clear
            )
            audit = SqlAuditSink(engine)
            # a settle commits its call's audit row, made (and redacted) as the sink makes it
            ledger = SqlLedger(engine, stale_after=stale_after, audit_row=audit.row)
            store = cls(
                engine,
                guard(keys, "keys"),
                guard(accounts, "accounts"),
                guard(ledger, "ledger"),
                audit,
            )
            await ledger.start()
            await audit.start()
        except BaseException:
            await engine.dispose()
            raise
        store._usage_task = asyncio.get_running_loop().create_task(
            store._flush_usage_periodically(), name="key-usage-writer"
        )
        return store

    async def close(self) -> None:
        """Write everything queued (ledger, audit, key usage), then dispose of the engine."""
        if self._closed:
            return
        self._closed = True
        if self._usage_task is not None:
            self._usage_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._usage_task
        try:
            await self.ledger.close()
            await self.audit.close()
            await self.keys.flush_usage()
        finally:
            await self.engine.dispose()

    async def _flush_usage_periodically(self) -> None:
        while True:
            await asyncio.sleep(USAGE_FLUSH_SECONDS)
            await self.keys.flush_usage()
