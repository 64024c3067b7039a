"""Issue 8, item 8, on SQLite and PostgreSQL: a result has a byte cap, enforced while rows stream
in (running total) and per value inside the database (one huge aggregate is never shipped), and
a call over it is refused as UPSTREAM_ERROR `too_large`, uncharged."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from tests.upstream.harness import gateway_over
from tests.upstream.sql.warehouse import Warehouse, runner_for
from toolwire.core.errors import UpstreamError, UpstreamTimeout
from toolwire.store.db import create_engine
from toolwire.store.migrations import migrate
from toolwire.upstream.sql import DatabaseView, check

CAP = 100_000


async def _big_table(db_url: str, rows: int) -> None:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT)"))
            values = ", ".join(f"({i}, 'name{i:04d}')" for i in range(1, rows + 1))
            await conn.execute(text(f"INSERT INTO big VALUES {values}"))
    finally:
        await engine.dispose()


async def test_the_issues_aggregate_over_a_cross_join_is_refused_with_the_limit_named(
    db_url: str,
) -> None:
    await _big_table(db_url, 500)
    runner = runner_for(db_url, timeout=30)
    scope = DatabaseView(runner.dialect, {"big": {"id": "INTEGER", "name": "TEXT"}})
    agg = "string_agg(a.name, ',')" if runner.dialect == "postgres" else "group_concat(a.name)"
    try:
        sql = check(f"SELECT {agg} FROM big a, big b", scope, 100, CAP)
        with pytest.raises(UpstreamError) as caught:
            await runner.fetch(sql, {}, CAP)
        assert caught.value.details == {"reason": "too_large", "limit_bytes": CAP}
        assert str(CAP) in caught.value.message
        small = check(f"SELECT {agg} AS names FROM big a WHERE a.id <= 3", scope, 100, CAP)
        assert await runner.fetch(small, {}, CAP) == (["names"], [["name0001,name0002,name0003"]])
    finally:
        await runner.aclose()


async def test_many_small_rows_are_stopped_once_their_running_total_passes_the_cap(
    warehouse: Warehouse,
) -> None:
    sql = "SELECT a.id, b.status, c.placed FROM orders a, orders b, orders c"
    with pytest.raises(UpstreamError) as caught:
        await warehouse.ask(sql, max_bytes=5_000)
    assert caught.value.details == {"reason": "too_large", "limit_bytes": 5_000}
    columns, rows = await warehouse.ask("SELECT id FROM orders ORDER BY id", max_bytes=5_000)
    assert (columns, len(rows)) == (["id"], 40)


async def test_a_single_value_over_the_cap_is_refused_not_truncated(warehouse: Warehouse) -> None:
    concat = "a.status || b.status || c.status"
    agg = (
        f"string_agg({concat}, '')"
        if warehouse.dialect == "postgres"
        else f"group_concat({concat}, '')"
    )
    with pytest.raises(UpstreamError) as caught:
        await warehouse.ask(f"SELECT {agg} FROM orders a, orders b, orders c", max_bytes=10_000)
    assert caught.value.details["reason"] == "too_large"


async def test_through_the_gateway_a_result_over_the_cap_is_an_uncharged_upstream_error(
    db_url: str,
) -> None:
    await migrate(db_url)
    await _big_table(db_url, 500)
    config = {
        "databases": {"wh": {"url": db_url, "tables": {"big": "*"}, "max_response_bytes": 1024}},
        "prices": {"wh": 1},
    }
    async with gateway_over(db_url, config) as h:
        before = await h.balance()
        got = await h.call("wh.query", sql="SELECT a.id, a.name, b.name FROM big a, big b")
        assert got.error is not None
        assert (got.error.code, got.error.details) == (
            "UPSTREAM_ERROR",
            {"reason": "too_large", "limit_bytes": 1024},
        )
        assert got.meta.credits_charged == 0
        assert await h.balance() == before
        ok = await h.call("wh.query", sql="SELECT count(*) AS n FROM big")
        assert ok.ok and ok.data["rows"] == [[500]]


async def test_a_guarded_cross_join_is_stopped_by_the_statement_timeout(db_url: str) -> None:
    await _big_table(db_url, 500)
    runner = runner_for(db_url, timeout=0.3)
    scope = DatabaseView(runner.dialect, {"big": {"id": "INTEGER", "name": "TEXT"}})
    try:
        sql = check("SELECT count(*) FROM big a, big b, big c, big d", scope, 10, CAP)
        with pytest.raises(UpstreamTimeout):
            await runner.fetch(sql, {}, CAP)
    finally:
        await runner.aclose()
