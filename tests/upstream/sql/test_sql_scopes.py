"""Database scopes over SQLite and PostgreSQL: describe, query, limits, and a catalogue of escape
attempts that must all be refused as FORBIDDEN before anything reaches the database (more in
tests/upstream/sql/). The scope
lives in the same database as the gateway's own tables (`secrets`, `api_keys`), so an escape
would have something to find."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.pool import NullPool

from tests.upstream.harness import Harness, gateway_over
from toolwire.core.errors import Forbidden, UpstreamError, UpstreamTimeout
from toolwire.store.db import create_engine
from toolwire.upstream.sql import DatabaseView, PostgresRunner, SqliteRunner, check

ROW_LIMIT = 5


async def _seed(db_url: str) -> None:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
            )
            await conn.execute(
                text("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT, total REAL)")
            )
            await conn.execute(
                text("INSERT INTO customers VALUES (1, 'Ada', 'a@example.com'), (2, 'Linus', NULL)")
            )
            for i in range(1, 9):
                await conn.execute(text(f"INSERT INTO orders VALUES ({i}, {1 + i % 2}, {i * 10})"))
    finally:
        await engine.dispose()


@pytest.fixture
async def shop(db_url: str) -> AsyncIterator[Harness]:
    from toolwire.store.migrations import migrate

    await migrate(db_url)
    await _seed(db_url)
    config = {
        "databases": {
            "shop": {
                "url": db_url,
                "tables": {"orders": "*", "customers": ["id", "name"]},
                "row_limit": ROW_LIMIT,
                "statement_timeout": 5,
            }
        },
        "prices": {"shop": 1},
    }
    async with gateway_over(db_url, config) as h:
        yield h


async def test_describe_lists_only_the_allowed_tables_and_columns(shop: Harness) -> None:
    got = await shop.call("shop.describe")
    assert got.ok, got.error
    tables = {t["name"]: [c["name"] for c in t["columns"]] for t in got.data["tables"]}
    assert tables == {"orders": ["id", "customer_id", "total"], "customers": ["id", "name"]}


async def test_a_select_returns_columns_and_rows_and_star_means_the_allowed_columns(
    shop: Harness,
) -> None:
    got = await shop.call("shop.query", sql="SELECT * FROM customers ORDER BY id")
    assert got.ok, got.error
    assert got.data == {
        "columns": ["id", "name"],
        "rows": [[1, "Ada"], [2, "Linus"]],
        "row_count": 2,
        "truncated": False,
    }
    joined = await shop.call(
        "shop.query",
        sql="SELECT c.name, COUNT(*) AS n FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.total > (SELECT AVG(total) FROM orders) GROUP BY c.name ORDER BY c.name",
    )
    assert joined.ok, joined.error
    assert joined.data["rows"] == [["Ada", 2], ["Linus", 2]]


async def test_the_row_limit_is_enforced_by_wrapping_whatever_the_query_says(shop: Harness) -> None:
    got = await shop.call("shop.query", sql="SELECT id FROM orders ORDER BY id LIMIT 100")
    assert got.ok, got.error
    assert (got.data["row_count"], got.data["truncated"]) == (ROW_LIMIT, True)
    fewer = await shop.call("shop.query", sql="SELECT id FROM orders ORDER BY id", limit=2)
    assert fewer.data["rows"] == [[1], [2]]


ESCAPES: list[tuple[str, str]] = [
    ("DELETE FROM orders", "not_select"),
    ("UPDATE orders SET total = 0", "not_select"),
    ("INSERT INTO orders VALUES (99, 1, 1)", "not_select"),
    ("DROP TABLE orders", "not_select"),
    ("CREATE TABLE x (a INT)", "not_select"),
    ("ALTER TABLE orders ADD COLUMN x INT", "not_select"),
    ("TRUNCATE orders", "not_select"),
    ("PRAGMA writable_schema = 1", "not_select"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "not_select"),
    ("VACUUM INTO '/tmp/x.db'", "not_select"),
    ("COPY orders TO '/tmp/x.csv'", "not_select"),
    ("SET statement_timeout = 0", "not_select"),
    ("BEGIN", "not_select"),
    ("EXPLAIN SELECT id FROM orders", "not_select"),
    ("GRANT ALL ON orders TO public", "not_select"),
    ("SELECT id FROM orders; DROP TABLE orders", "multiple_statements"),
    ("SELECT id FROM orders; SELECT id FROM orders", "multiple_statements"),
    ("SELECT id FROM orders -- and more", "comment"),
    ("SELECT id /* hidden */ FROM orders", "comment"),
    ("SELECT id FROM orders WHERE 1=1 --'; DROP TABLE orders", "comment"),
    ("WITH s AS (SELECT * FROM secrets) SELECT * FROM s", "table_not_allowed"),
    (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x FROM c) SELECT x FROM c",
        "clause_not_allowed",
    ),
    ("SELECT * FROM secrets", "table_not_allowed"),
    ("SELECT * FROM api_keys", "table_not_allowed"),
    ("SELECT name FROM sqlite_master", "table_not_allowed"),
    ("SELECT * FROM other.orders", "table_not_allowed"),
    ("SELECT * FROM temp.orders", "table_not_allowed"),
    ("SELECT * FROM pg_catalog.pg_tables", "table_not_allowed"),
    ("SELECT * FROM information_schema.tables", "table_not_allowed"),
    ("SELECT id FROM orders WHERE id IN (SELECT id FROM secrets)", "table_not_allowed"),
    ("SELECT (SELECT ciphertext FROM secrets LIMIT 1) AS x FROM orders", "table_not_allowed"),
    ("SELECT * FROM orders o JOIN api_keys k ON 1 = 1", "table_not_allowed"),
    ("SELECT id FROM orders UNION SELECT name FROM secrets", "table_not_allowed"),
    ("SELECT id FROM customers EXCEPT SELECT id FROM api_keys", "table_not_allowed"),
    ("SELECT email FROM customers", "column_not_allowed"),
    ('SELECT "email" FROM customers', "column_not_allowed"),
    ("SELECT id FROM customers WHERE email LIKE '%@%'", "column_not_allowed"),
    ("SELECT c.email FROM customers c", "column_not_allowed"),
    ("SELECT CAST(c AS TEXT) FROM customers c", "whole_row|column_not_allowed"),  # issue 8 item 1
    ("SELECT count(*) FROM orders o WHERE o::text LIKE '%'", "whole_row|column_not_allowed"),
    ("SELECT x.email FROM (SELECT * FROM customers) x", "column_not_allowed"),
    ("SELECT rowid FROM orders", "column_not_allowed"),
    ("SELECT ctid FROM orders", "column_not_allowed"),
    ("SELECT * FROM pragma_table_info('secrets')", "table_function|function_not_allowed"),
    ("SELECT * FROM generate_series(1, 10)", "table_function|function_not_allowed"),
    ("SELECT load_extension('/tmp/evil')", "function_not_allowed"),
    ("SELECT pg_sleep(10)", "function_not_allowed"),
    ("SELECT pg_read_file('/etc/passwd')", "function_not_allowed"),
    ("SELECT current_setting('is_superuser')", "function_not_allowed"),
    ("SELECT set_config('a.b', 'c', false)", "function_not_allowed"),
    ("SELECT lo_import('/etc/passwd')", "function_not_allowed"),
    ("SELECT dblink('host=x', 'select 1')", "function_not_allowed"),
    ("SELECT nextval('s')", "function_not_allowed"),
    ("SELECT randomblob(1000000000)", "function_not_allowed"),
    ("SELECT readfile('/etc/passwd')", "function_not_allowed"),
    ("SELECT id FROM orders WHERE total > pg_sleep(1)", "function_not_allowed"),
    ("SELECT id FROM orders FOR UPDATE", "clause_not_allowed"),
    ("SELECT id INTO stolen FROM orders", "clause_not_allowed"),
    ("SELECT id FROM orders WHERE id = ?", "parameter"),
    ("SELECT id FROM orders WHERE id = $1", "parameter|column_not_allowed"),  # sqlite: a name
]


SCOPE_TABLES = {
    "orders": {"id": "INTEGER", "customer_id": "INT", "total": "REAL"},
    "customers": {"id": "INTEGER", "name": "TEXT"},
}


def _accepted(reason: str) -> set[str]:
    accepted = set(reason.split("|"))
    if reason in ("not_select", "clause_not_allowed"):  # a dialect may not even parse it
        accepted.add("unparsable")
    return accepted


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
@pytest.mark.parametrize(("sql", "reason"), ESCAPES, ids=[s for s, _ in ESCAPES])
def test_every_escape_attempt_is_refused_by_the_guard_with_its_reason(
    dialect: str, sql: str, reason: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        check(sql, DatabaseView(dialect, SCOPE_TABLES), ROW_LIMIT)
    assert caught.value.details["reason"] in _accepted(reason)


async def test_the_whole_catalogue_is_forbidden_through_the_gateway_free_and_harmless(
    shop: Harness,
) -> None:
    before = await shop.balance()
    outcomes = {sql: await shop.call("shop.query", sql=sql) for sql, _ in ESCAPES}
    codes = {sql: None if o.error is None else o.error.code for sql, o in outcomes.items()}
    assert codes == {sql: "FORBIDDEN" for sql, _ in ESCAPES}
    assert sum(o.meta.credits_charged for o in outcomes.values()) == 0
    assert await shop.balance() == before
    got = await shop.call("shop.query", sql="SELECT COUNT(*) AS n FROM orders")
    assert got.data["rows"] == [[8]]


def _runner(db_url: str, timeout: float) -> SqliteRunner | PostgresRunner:
    if db_url.startswith("sqlite"):
        return SqliteRunner(Path(make_url(db_url).database or ""), timeout)
    url = make_url(db_url).set(drivername="postgresql")
    return PostgresRunner(url.render_as_string(hide_password=False), timeout)


async def test_the_connection_itself_refuses_writes_even_past_the_guard(
    shop: Harness, db_url: str
) -> None:
    runner = _runner(db_url, 5)
    try:
        for sql in (
            "DELETE FROM orders",
            "CREATE TABLE x (a INT)",
            "UPDATE customers SET name = 'x'",
        ):
            with pytest.raises(UpstreamError) as caught:
                await runner.fetch(sql, {}, 1_000_000)
            assert caught.value.details["reason"] == "query_failed"
    finally:
        await runner.aclose()
    got = await shop.call("shop.query", sql="SELECT COUNT(*) AS n FROM orders")
    assert got.data["rows"] == [[8]]


async def test_a_query_past_the_statement_timeout_is_cancelled(shop: Harness, db_url: str) -> None:
    runner = _runner(db_url, 0.2)
    slow: dict[str, Any] = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT COUNT(*) FROM c",
        "postgresql": "SELECT pg_sleep(3)",
    }
    try:
        with pytest.raises(UpstreamTimeout):
            await runner.fetch(slow[make_url(db_url).get_backend_name()], {}, 1_000_000)
    finally:
        await runner.aclose()
