"""The outer query every guarded SELECT runs inside: the row limit and the per-value size cap.

    WITH "_toolwire_q"("_c0", ..., "_cN") AS (<checked query>)
    SELECT CASE WHEN <bytes of _c0> > cap THEN NULL ELSE "_c0" END AS "<name 0>", ...,
           (<bytes of _c0> > cap OR ...) AS "_toolwire_oversize"
    FROM "_toolwire_q" LIMIT <row_limit + 1>

The CTE's column list renames the query's outputs by position (so duplicate or odd names cannot
clash), and a value larger than the whole result's byte cap is never sent: the database replaces
it with NULL and raises the last column's flag, which the runner turns into a refusal. What it is
not: the running total over all rows, which the runner keeps while rows stream in (`runner.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot.expressions as exp

OVERSIZE_COLUMN = "_toolwire_oversize"
"""Name of the last column of every guarded query: true when a value was over the byte cap."""

_CTE = "_toolwire_q"


def _bytes(column: exp.Expr, dialect: str) -> exp.Expr:
    """The size in bytes of a value as text (PostgreSQL) or as a blob (SQLite), 0 for NULL."""
    if dialect == "postgres":
        size: exp.Expr = exp.Anonymous(
            this="octet_length", expressions=[exp.cast(column, exp.DataType.Type.TEXT)]
        )
    else:
        size = exp.Length(this=exp.cast(column, exp.DataType.Type.BLOB))
    return exp.Coalesce(this=size, expressions=[exp.Literal.number(0)])


def wrap(query: exp.Query, names: Sequence[str], dialect: str, rows: int, cap: int) -> str:
    """The SQL to send: `query` limited to `rows` rows, each value at most `cap` bytes."""
    positions = [f"_c{i}" for i in range(len(names))]
    projections: list[exp.Expr] = []
    oversize: list[exp.Expr] = []
    for position, name in zip(positions, names, strict=True):
        column = exp.column(position, quoted=True)
        too_big = exp.GT(this=_bytes(column, dialect), expression=exp.Literal.number(cap))
        value = exp.Case(ifs=[exp.If(this=too_big, true=exp.Null())], default=column.copy())
        projections.append(exp.alias_(value, name, quoted=True))
        oversize.append(too_big.copy())
    flag = exp.or_(*oversize) if oversize else exp.false()
    projections.append(exp.alias_(flag, OVERSIZE_COLUMN, quoted=True))
    alias = exp.TableAlias(
        this=exp.to_identifier(_CTE, quoted=True),
        columns=[exp.to_identifier(p, quoted=True) for p in positions],
    )
    outer = (
        exp.select(*projections)
        .from_(exp.to_identifier(_CTE, quoted=True))
        .limit(int(rows) + 1)
        .with_(alias, as_=query)
    )
    return outer.sql(dialect=dialect, identify=True)
