"""A small shop database with canaries: values stored only in columns and tables a scope hides.

    customers(id, name, region, signup, email*, ssn*)       * hidden by SCOPE
    orders(id, customer_id, total, status, placed, note*)
    vault(id, secret)                                       hidden table
    PostgreSQL only: "Orders" (a distinct table) and other.orders (another schema)

Every hidden value contains CANARY, so a leak in any form (text, a row literal, JSON, part of an
error) is found by a substring search over the serialised result or error. `Warehouse.ask()` runs
a query exactly as the adapter does: guard, then the read-only runner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.pool import NullPool

from toolwire.core.errors import ToolwireError
from toolwire.store.db import create_engine
from toolwire.upstream.sql import DatabaseView, PostgresRunner, SqliteRunner, check

CANARY = "CANARY"
REGIONS = ("north", "south", "east", "west")
STATUSES = ("paid", "open", "refunded")
N_CUSTOMERS = 12
N_ORDERS = 40
ROW_LIMIT = 1000
MAX_BYTES = 200_000

SCOPE = {
    "customers": ["id", "name", "region", "signup"],
    "orders": ["id", "customer_id", "total", "status", "placed"],
}
HIDDEN = {"customers": ["email", "ssn"], "orders": ["note"], "vault": ["id", "secret"]}


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    region: str
    signup: dt.date


@dataclass(frozen=True)
class Order:
    id: int
    customer_id: int
    total: int
    status: str
    placed: dt.date


CUSTOMERS = [
    Customer(i, f"cust{i:02d}", REGIONS[i % 4], dt.date(2024, 1 + i % 12, 1 + i))
    for i in range(1, 13)
]
ORDERS = [
    Order(
        i,
        1 + (i * 7) % 10,
        (i * 37) % 100 + 5,
        STATUSES[i % 3],
        dt.date(2025, 1 + i % 6, 1 + i % 28),
    )
    for i in range(1, N_ORDERS + 1)
]  # customers 11 and 12 have no orders


async def seed(db_url: str) -> None:
    pg = db_url.startswith("postgresql")
    statements = [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, region TEXT, signup DATE, "
        "email TEXT, ssn TEXT)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total INTEGER, "
        "status TEXT, placed DATE, note TEXT)",
        "CREATE TABLE vault (id INTEGER PRIMARY KEY, secret TEXT)",
    ]
    for c in CUSTOMERS:
        statements.append(
            f"INSERT INTO customers VALUES ({c.id}, '{c.name}', '{c.region}', '{c.signup}', "
            f"'EMAIL-{CANARY}-{c.id}@x.test', 'SSN-{CANARY}-{c.id}')"
        )
    for o in ORDERS:
        statements.append(
            f"INSERT INTO orders VALUES ({o.id}, {o.customer_id}, {o.total}, '{o.status}', "
            f"'{o.placed}', 'NOTE-{CANARY}-{o.id}')"
        )
    statements += [f"INSERT INTO vault VALUES ({i}, 'VAULT-{CANARY}-{i}')" for i in range(1, 4)]
    if pg:
        statements += [
            'CREATE TABLE "Orders" (id INTEGER, total INTEGER, note TEXT)',
            f"INSERT INTO \"Orders\" VALUES (1, 1, 'QUOTED-{CANARY}-1')",
            "CREATE SCHEMA other",
            "CREATE TABLE other.orders (id INTEGER, total INTEGER, note TEXT)",
            f"INSERT INTO other.orders VALUES (1, 1, 'SCHEMA-{CANARY}-1')",
        ]
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def runner_for(db_url: str, timeout: float = 5.0) -> SqliteRunner | PostgresRunner:
    if db_url.startswith("sqlite"):
        return SqliteRunner(Path(make_url(db_url).database or ""), timeout)
    url = make_url(db_url).set(drivername="postgresql")
    return PostgresRunner(url.render_as_string(hide_password=False), timeout)


@dataclass
class Warehouse:
    runner: SqliteRunner | PostgresRunner
    scope: DatabaseView

    @property
    def dialect(self) -> str:
        return self.scope.dialect

    async def ask(self, sql: str, max_bytes: int = MAX_BYTES) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows of `sql` through the guard and the runner, as the adapter runs it."""
        guarded = check(sql, self.scope, ROW_LIMIT, max_bytes)
        return await self.runner.fetch(guarded, {}, max_bytes)

    async def outcome(self, sql: str) -> tuple[str, str]:
        """("ok" | error code, everything the caller would see, serialised)."""
        try:
            columns, rows = await self.ask(sql)
        except ToolwireError as exc:
            return exc.code, orjson.dumps(exc.to_dict()).decode()
        return "ok", orjson.dumps({"columns": columns, "rows": rows}).decode()


async def open_warehouse(db_url: str) -> AsyncIterator[Warehouse]:
    await seed(db_url)
    runner = runner_for(db_url)
    try:
        found = await runner.columns(list(SCOPE), {})
        tables = {t: {c: found[t][c] for c in cols} for t, cols in SCOPE.items()}
        schema = await runner.schema({})
        yield Warehouse(runner, DatabaseView(runner.dialect, tables, schema=schema))
    finally:
        await runner.aclose()


@pytest.fixture
async def warehouse(db_url: str) -> AsyncIterator[Warehouse]:
    async for opened in open_warehouse(db_url):
        yield opened
