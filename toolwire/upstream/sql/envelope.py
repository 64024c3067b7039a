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


_SIZE = {
    "postgres": "COALESCE(OCTET_LENGTH(CAST({} AS TEXT)), 0)",
    "sqlite": "COALESCE(LENGTH(CAST({} AS BLOB)), 0)",
}
"""The size in bytes of a value as text (PostgreSQL) or as a blob (SQLite), 0 for NULL."""


def wrap(query: exp.Query, names: Sequence[str], dialect: str, rows: int, cap: int) -> str:
    """The SQL to send: `query` limited to `rows` rows, each value at most `cap` bytes.

    Only `query` (already checked) and the output `names` (quoted by sqlglot) come from the
    caller; the rest is this fixed template with integers.
    """
    inner = query.sql(dialect=dialect, identify=True)
    positions = [f'"_c{i}"' for i in range(len(names))]
    over = [f"{_SIZE[dialect].format(p)} > {int(cap)}" for p in positions]
    values = [
        f"CASE WHEN {too_big} THEN NULL ELSE {p} END AS {_quoted(name, dialect)}"
        for p, too_big, name in zip(positions, over, names, strict=True)
    ]
    flag = " OR ".join(over) or "FALSE"
    return (
        f'WITH "{_CTE}"({", ".join(positions)}) AS ({inner}) '
        f'SELECT {", ".join(values)}, {flag} AS "{OVERSIZE_COLUMN}" '
        f'FROM "{_CTE}" LIMIT {int(rows) + 1}'
    )


def _quoted(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)
