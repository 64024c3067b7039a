"""The few statements a ledger batch runs, in two spellings over one transaction.

`AlchemyStatements` runs them through SQLAlchemy Core (any backend; PostgreSQL uses it).
`SqliteStatements` runs the same SQL on the raw `sqlite3` connection underneath a SQLAlchemy
connection, inside its transaction: on the hot path SQLAlchemy's per-execute work (compile-cache
look-up, bind processing per row) cost several times what SQLite itself did, and a batch runs in
one worker thread that holds the GIL while it does Python work. The batch algorithm in
`toolwire.store.ledger` is written once against `BatchStatements`; this module only spells SQL.

What it is not: the algorithm (which reservations fit, in which order), nor budgets (those
statements stay in SQLAlchemy: budgeted batches are the rarer path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger, Text, bindparam, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.store._common import sqlite_timestamp, upsert_insert
from toolwire.store.audit_sink import insert_sqlite_audit, sqlite_audit_values
from toolwire.store.tables import RESOLVING_PREDICATE, accounts, ledger_entries

ENTRY_COLUMNS = (
    "account_id",
    "key_id",
    "kind",
    "amount",
    "charged",
    "reservation_id",
    "request_id",
    "tool",
    "operation",
    "note",
    "created_at",
    "instance_id",
)
"""Every column a batch writes into `ledger_entries`, in one fixed order."""

Row = Mapping[str, Any]

_NET = bindparam("b_net", type_=BigInteger)
_ACC = bindparam("b_acc", type_=Text)
APPLY_NET = (
    update(accounts)
    .where(accounts.c.id == _ACC, accounts.c.balance >= _NET)
    .values(balance=accounts.c.balance - _NET)
    .returning(accounts.c.balance)
)
APPLY_UNCONDITIONAL = (
    update(accounts)
    .where(accounts.c.id == _ACC)
    .values(balance=accounts.c.balance - _NET)
    .returning(accounts.c.balance)
)
# FOR NO KEY UPDATE (PostgreSQL; SQLite already holds the write lock here): the same lock an
# UPDATE takes, which does not wait for the KEY SHARE locks other batches' ledger INSERTs hold.
READ_FOR_UPDATE = (
    select(accounts.c.balance).where(accounts.c.id == _ACC).with_for_update(key_share=True)
)
READ = select(accounts.c.balance).where(accounts.c.id == _ACC)


def resolution_insert(engine: AsyncEngine) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING reservation_id: at most one charge or
    release per reservation, whoever writes it first (a unique partial index enforces it)."""
    return (
        upsert_insert(engine, ledger_entries)
        .on_conflict_do_nothing(
            index_elements=[ledger_entries.c.reservation_id],
            index_where=text(RESOLVING_PREDICATE),
        )
        .returning(ledger_entries.c.reservation_id)
    )


class BatchStatements(Protocol):
    """What one ledger batch needs from the database, inside the batch's transaction."""

    def read(self, account_id: str) -> int | None: ...

    def read_for_update(self, account_id: str) -> int | None: ...

    def apply_net(self, account_id: str, net: int) -> int | None:
        """Subtract `net` if the balance stays >= 0; the new balance, or None (refused/absent)."""

    def apply(self, account_id: str, net: int) -> None:
        """Subtract `net` unconditionally (the caller checked what fits)."""

    def insert_entries(self, rows: Sequence[Row]) -> None: ...

    def insert_resolutions(self, rows: Sequence[Row]) -> set[str]:
        """Insert charge/release rows, skipping reservations already resolved; the reservation
        ids actually inserted."""

    def insert_audit(self, rows: Sequence[Row]) -> None:
        """Insert the audit records of the calls this batch settles (`SqlAuditSink.row`); a
        call whose record is already stored (same `call_id`) keeps it."""


class AlchemyStatements:
    """The statements through SQLAlchemy Core: correct on every backend."""

    def __init__(self, conn: Connection, resolution_stmt: Any, audit_stmt: Any) -> None:
        self.conn = conn
        self.resolution_stmt = resolution_stmt
        self.audit_stmt = audit_stmt
        """`audit_sink.audit_insert`: ON CONFLICT DO NOTHING on the call's id."""

    def read(self, account_id: str) -> int | None:
        return _int(self.conn.execute(READ, {"b_acc": account_id}).scalar())

    def read_for_update(self, account_id: str) -> int | None:
        return _int(self.conn.execute(READ_FOR_UPDATE, {"b_acc": account_id}).scalar())

    def apply_net(self, account_id: str, net: int) -> int | None:
        row = self.conn.execute(APPLY_NET, {"b_acc": account_id, "b_net": net}).first()
        return None if row is None else int(row[0])

    def apply(self, account_id: str, net: int) -> None:
        self.conn.execute(APPLY_UNCONDITIONAL, {"b_acc": account_id, "b_net": net})

    def insert_entries(self, rows: Sequence[Row]) -> None:
        self.conn.execute(insert(ledger_entries), [dict(row) for row in rows])

    def insert_resolutions(self, rows: Sequence[Row]) -> set[str]:
        result = self.conn.execute(self.resolution_stmt, [dict(row) for row in rows])
        inserted: list[Any] = list(result.scalars())
        return {str(rid) for rid in inserted}

    def insert_audit(self, rows: Sequence[Row]) -> None:
        self.conn.execute(self.audit_stmt, [dict(row) for row in rows])


class SqliteStatements:
    """The same statements on the raw sqlite3 connection under `conn`, in its transaction.

    Timestamps are written in the text form SQLAlchemy's SQLite DATETIME stores (naive UTC,
    `YYYY-MM-DD HH:MM:SS.ffffff`), so rows read back through SQLAlchemy as before.
    """

    _CHUNK = 500  # rows per multi-row INSERT (12 columns: far below SQLite's variable limit)

    def __init__(self, conn: Connection) -> None:
        self.raw: Any = conn.connection.dbapi_connection

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        row = self.raw.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def read(self, account_id: str) -> int | None:
        return _int(self._one("SELECT balance FROM accounts WHERE id = ?", (account_id,)))

    def read_for_update(self, account_id: str) -> int | None:
        return self.read(account_id)  # the batch's transaction already holds the write lock

    def apply_net(self, account_id: str, net: int) -> int | None:
        sql = (
            "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ? "
            "RETURNING balance"
        )
        return _int(self._one(sql, (net, account_id, net)))

    def apply(self, account_id: str, net: int) -> None:
        self.raw.execute(
            "UPDATE accounts SET balance = balance - ? WHERE id = ?", (net, account_id)
        )

    def insert_entries(self, rows: Sequence[Row]) -> None:
        self.raw.executemany(_INSERT_ONE, [_values(row) for row in rows])

    def insert_resolutions(self, rows: Sequence[Row]) -> set[str]:
        inserted: set[str] = set()
        for start in range(0, len(rows), self._CHUNK):
            chunk = rows[start : start + self._CHUNK]
            placeholders = ", ".join([_ROW_PLACEHOLDER] * len(chunk))
            sql = (
                f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES {placeholders} "
                f"ON CONFLICT (reservation_id) WHERE {RESOLVING_PREDICATE} DO NOTHING "
                "RETURNING reservation_id"
            )
            params = [value for row in chunk for value in _values(row)]
            inserted.update(str(r[0]) for r in self.raw.execute(sql, params).fetchall())
        return inserted

    def insert_audit(self, rows: Sequence[Row]) -> None:
        insert_sqlite_audit(self.raw, [sqlite_audit_values(row) for row in rows])


_COLUMNS = ", ".join(ENTRY_COLUMNS)
_ROW_PLACEHOLDER = "(" + ", ".join("?" for _ in ENTRY_COLUMNS) + ")"
_INSERT_ONE = f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES {_ROW_PLACEHOLDER}"


def _values(row: Row) -> tuple[Any, ...]:
    return tuple(
        sqlite_timestamp(row[name]) if name == "created_at" else row.get(name)
        for name in ENTRY_COLUMNS
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
