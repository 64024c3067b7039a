"""Issue 8, items 1-3, on SQLite and PostgreSQL: whole-row references, identifier and schema rules,
and ordinary analytical SQL with boolean connectives. Each query runs through the guard and the
real database (see warehouse.py); refusals are FORBIDDEN and nothing hidden ever comes back."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.pool import NullPool

from tests.upstream.sql.warehouse import CANARY, Warehouse, runner_for
from toolwire.core.errors import Forbidden
from toolwire.store.db import create_engine
from toolwire.upstream.sql import DatabaseView, check

# Item 1: every way to reach a hidden column as part of a whole row, in every clause.
WHOLE_ROW = [
    "SELECT CAST(c AS TEXT) FROM customers c",  # the issue's input
    "SELECT c FROM customers c",
    "SELECT customers FROM customers",
    "SELECT c::text FROM customers c",
    "SELECT CAST(customers AS TEXT) FROM customers",
    "SELECT (c).ssn FROM customers c",
    "SELECT (c).* FROM customers c",
    "SELECT row_to_json(c) FROM customers c",
    "SELECT to_jsonb(c) FROM customers c",
    "SELECT to_json(c.*) FROM customers c",
    "SELECT json_agg(c) FROM customers c",
    "SELECT ROW(c.*) FROM customers c",
    "SELECT ROW(c.id, c.ssn) FROM customers c",
    "SELECT count(c.*) FROM customers c",
    "SELECT max(c::text) FROM customers c",
    "SELECT string_agg(c::text, ',') FROM customers c",
    "SELECT ssn(c) FROM customers c",
    "SELECT length(c) FROM customers c",
    "SELECT id FROM customers c WHERE c::text LIKE '%SSN%'",
    "SELECT id FROM customers c WHERE CAST(c AS TEXT) LIKE '%CANARY-1%'",
    "SELECT id FROM customers c WHERE c = c",
    "SELECT id FROM customers c WHERE c IS NOT NULL",
    "SELECT id FROM customers c WHERE (c.id, c.name) = (1, 'cust01')",
    "SELECT id FROM customers c ORDER BY c",
    "SELECT id FROM customers c ORDER BY c::text",
    "SELECT count(*) FROM customers c GROUP BY c",
    "SELECT id FROM customers c GROUP BY id HAVING max(c::text) > ''",
    "SELECT (SELECT c::text) FROM customers c",
    "SELECT x FROM (SELECT * FROM customers) x",
    "SELECT CAST(x AS TEXT) FROM (SELECT id, name FROM customers) x",
    "WITH w AS (SELECT * FROM customers) SELECT CAST(w AS TEXT) FROM w",
    "SELECT o.id FROM orders o JOIN customers c ON c::text LIKE '%' || o.id || '%'",
    "SELECT '(1,a,b,c,d,e)'::customers",
    "SELECT id FROM customers WHERE ssn LIKE 'SSN%'",
    "SELECT id FROM customers ORDER BY ssn",
    "SELECT id FROM customers ORDER BY email LIMIT 1",
    "SELECT id AS ssn FROM customers ORDER BY ssn || ''",
    "SELECT count(*) FROM customers GROUP BY email",
    "SELECT (SELECT email FROM customers LIMIT 1) FROM orders",
    "SELECT (SELECT note FROM customers LIMIT 1) FROM orders",
    "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.ssn = o.status)",
    "WITH x(a) AS (SELECT ssn FROM customers) SELECT a FROM x",
    "SELECT * FROM customers NATURAL JOIN vault",
    "SELECT rowid, * FROM customers",
    "SELECT ctid, xmin FROM customers",
    "SELECT tableoid::regclass FROM customers",
]


async def test_a_hidden_column_cannot_be_reached_directly_or_as_part_of_a_row(
    warehouse: Warehouse,
) -> None:
    outcomes = {sql: await warehouse.outcome(sql) for sql in WHOLE_ROW}
    assert {sql: code for sql, (code, _) in outcomes.items()} == dict.fromkeys(
        WHOLE_ROW, "FORBIDDEN"
    )
    assert [sql for sql, (_, seen) in outcomes.items() if CANARY in seen] == []


async def test_the_issues_cast_of_a_row_is_refused_while_its_allowed_columns_answer(
    warehouse: Warehouse,
) -> None:
    with pytest.raises(Forbidden) as caught:
        await warehouse.ask("SELECT CAST(c AS TEXT) FROM customers c")
    assert caught.value.details["reason"] in {"whole_row", "column_not_allowed"}
    columns, rows = await warehouse.ask(
        "SELECT CAST(c.id AS TEXT) || ':' || c.name AS who FROM customers c WHERE c.id = 1"
    )
    assert (columns, rows) == (["who"], [["1:cust01"]])


# Item 2: names are compared the way the database compares them, schemas included.
OTHER_TABLES = [
    'SELECT * FROM "Orders"',  # the issue's input: a distinct table on PostgreSQL
    'SELECT note FROM "Orders"',
    'SELECT * FROM "ORDERS"',
    'SELECT * FROM "orders " ',
    "SELECT * FROM other.orders",
    'SELECT * FROM "other"."orders"',
    "SELECT * FROM pg_catalog.pg_tables",
    "SELECT * FROM information_schema.columns",
    "SELECT * FROM public.vault",
    "SELECT * FROM main.vault",
    "SELECT * FROM temp.orders",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM sqlite_schema",
    "SELECT * FROM main.sqlite_master",
    "SELECT * FROM pg_catalog.pg_authid",
    "SELECT * FROM test.public.orders",
    "SELECT id FROM orders UNION SELECT id FROM vault",
    "SELECT id FROM orders WHERE id IN (SELECT id FROM VAULT)",
]


SQLITE_SAME = {'SELECT * FROM "Orders"', 'SELECT * FROM "ORDERS"'}
"""On SQLite these are the allowed `orders` (identifiers ignore ASCII case, quoted or not)."""


async def test_a_table_outside_the_scope_is_refused_whatever_its_spelling(
    warehouse: Warehouse,
) -> None:
    outcomes = {sql: await warehouse.outcome(sql) for sql in OTHER_TABLES}
    same = SQLITE_SAME if warehouse.dialect == "sqlite" else set()
    assert {sql: code for sql, (code, _) in outcomes.items()} == {
        sql: "ok" if sql in same else "FORBIDDEN" for sql in OTHER_TABLES
    }
    assert [sql for sql, (_, seen) in outcomes.items() if CANARY in seen] == []


SAME_TABLE = {
    "postgres": [
        "SELECT count(*) AS n FROM orders",
        "SELECT count(*) AS n FROM ORDERS",
        'SELECT count(*) AS n FROM "orders"',
        "SELECT count(*) AS n FROM public.orders",
        'SELECT count(*) AS n FROM "public".Orders',
        "SELECT count(*) AS n FROM Public.orders AS O WHERE O.ID > 0",
    ],
    "sqlite": [
        "SELECT count(*) AS n FROM orders",
        "SELECT count(*) AS n FROM ORDERS",
        'SELECT count(*) AS n FROM "Orders"',
        "SELECT count(*) AS n FROM main.orders",
        'SELECT count(*) AS n FROM "MAIN"."ORDERS"',
        'SELECT count(*) AS n FROM Orders AS O WHERE "o"."ID" > 0',
    ],
}


async def test_each_spelling_the_database_resolves_to_an_allowed_table_answers(
    warehouse: Warehouse,
) -> None:
    for sql in SAME_TABLE[warehouse.dialect]:
        assert await warehouse.ask(sql) == (["n"], [[40]]), sql


def test_postgres_compares_quoted_column_names_exactly_and_folds_unquoted_ones() -> None:
    scope = DatabaseView("postgres", {"t": {"Total": "int", "id": "int"}})
    assert check('SELECT "Total", ID FROM T', scope, 1)
    for sql in ("SELECT Total FROM t", 'SELECT "ID" FROM t', 'SELECT id FROM "T"'):
        with pytest.raises(Forbidden):
            check(sql, scope, 1)


def test_sqlite_folds_ascii_letters_only() -> None:
    scope = DatabaseView("sqlite", {"t": {"Ä": "text", "id": "int"}})
    assert check('SELECT "Ä", "ID" FROM "T"', scope, 1)
    with pytest.raises(Forbidden):
        check('SELECT "ä" FROM t', scope, 1)


# Item 3: the guard answers ordinary analytical SQL.
async def test_the_issues_two_condition_query_answers(warehouse: Warehouse) -> None:
    expected = sum(1 for i in range(11, 41) if (i * 37) % 100 + 5 < 30)
    got = await warehouse.ask("SELECT count(*) FROM orders WHERE id > 10 AND total < 30")
    assert got[1] == [[expected]]
    either = await warehouse.ask("SELECT count(*) AS n FROM orders WHERE id < 3 OR id > 38")
    assert either == (["n"], [[4]])


def test_the_guard_sends_the_rebuilt_query_never_the_callers_text() -> None:
    scope = DatabaseView("postgres", {"orders": {"id": "int", "total": "int"}})
    sent = check("select ID from Orders where total>1 or not id=2", scope, 10)
    assert '"public"."orders" AS "orders"' in sent
    assert '"orders"."total" > 1 OR NOT "orders"."id" = 2' in sent


async def test_a_scope_may_name_a_table_in_another_schema_and_only_that_one_answers(
    warehouse: Warehouse,
) -> None:
    if warehouse.dialect != "postgres":
        pytest.skip("SQLite has one schema (main) on a read-only connection")
    runner = warehouse.runner
    found = await runner.columns(["other.orders"], {})
    assert found == {"other.orders": {"id": "integer", "total": "integer", "note": "text"}}
    scope = DatabaseView(
        "postgres", {"other.orders": {"id": "integer", "total": "integer"}}, schema="public"
    )
    sent = check("SELECT id, total FROM other.orders", scope, 10)
    assert await runner.fetch(sent, {}, 10_000) == (["id", "total"], [[1, 1]])
    for sql in (
        "SELECT id FROM orders",
        "SELECT id FROM public.orders",
        "SELECT note FROM other.orders",
    ):
        with pytest.raises(Forbidden):
            check(sql, scope, 10)


async def test_a_backslash_in_a_literal_means_what_the_guard_parsed_whatever_the_db_default(
    warehouse: Warehouse, db_url: str
) -> None:
    if warehouse.dialect == "postgres":  # the old, non-standard reading of backslashes
        database = make_url(db_url).database
        engine = create_engine(db_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(f'ALTER DATABASE "{database}" SET standard_conforming_strings = off')
                )
        finally:
            await engine.dispose()
    runner = runner_for(db_url)
    try:
        sent = check(r"SELECT 'a\' AS x, name FROM customers WHERE id = 1", warehouse.scope, 5)
        assert await runner.fetch(sent, {}, 10_000) == (["x", "name"], [["a\\", "cust01"]])
    finally:
        await runner.aclose()
