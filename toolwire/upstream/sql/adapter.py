"""Database scopes: a curated, read-only window on one database, as a tool with two operations.

    <scope>.describe   the allowed tables and columns, with their types
    <scope>.query      one guarded SELECT (see `guard.py`), at most `row_limit` rows

The allowed columns are declared per table (a list, or "*" for every column the table has); the
real columns are read from the database on first use and intersected with the declaration, so
`*` in a query means "the allowed columns" and a declared column that does not exist is reported.
What it is not: a general SQL endpoint; writes are impossible by construction (`runner.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.core.catalog import Annotations, Operation, OperationSpec, ToolSpec
from toolwire.core.errors import UpstreamError
from toolwire.core.ports import InvokeContext
from toolwire.upstream.sql.guard import DEFAULT_MAX_BYTES, DatabaseView, check
from toolwire.upstream.sql.runner import Runner

DEFAULT_ROW_LIMIT = 100
MAX_ROW_LIMIT = 10_000


@dataclass(frozen=True)
class ViewSpec:
    """A database scope as the catalog declares it."""

    name: str
    tables: Mapping[str, tuple[str, ...] | None]
    """table -> allowed columns, or None for all of them."""
    description: str = ""
    functions: frozenset[str] = frozenset()
    row_limit: int = DEFAULT_ROW_LIMIT
    timeout: float = 5.0
    max_response_bytes: int = DEFAULT_MAX_BYTES
    """Cap on one result's size as JSON, enforced while rows stream in (`runner.py`)."""
    credentials: Mapping[str, str] = field(default_factory=dict)


class SqlViewAdapter:
    """Both operations of one scope; implements `toolwire.core.ports.Adapter`."""

    def __init__(self, spec: ViewSpec, runner: Runner) -> None:
        self.spec = spec
        self.runner = runner
        self._scope: DatabaseView | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.runner.aclose()

    async def scope(self, creds: Mapping[str, str]) -> DatabaseView:
        if self._scope is not None:
            return self._scope
        async with self._lock:
            if self._scope is None:
                found = await self.runner.columns(list(self.spec.tables), creds)
                tables: dict[str, dict[str, str]] = {}
                for table, allowed in self.spec.tables.items():
                    real = found.get(table)
                    if real is None:
                        raise _misconfigured(f"table {table!r} does not exist")
                    if allowed is None:
                        tables[table] = dict(real)
                        continue
                    missing = [c for c in allowed if c not in real]
                    if missing:
                        raise _misconfigured(f"{table} has no column {missing[0]!r}")
                    tables[table] = {c: real[c] for c in allowed}
                schema = await self.runner.schema(creds)
                self._scope = DatabaseView(self.runner.dialect, tables, self.spec.functions, schema)
        return self._scope

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any:
        scope = await self.scope(ctx.credentials)
        if operation.name == "describe":
            return {
                "dialect": scope.dialect,
                "row_limit": self.spec.row_limit,
                "tables": [
                    {"name": t, "columns": [{"name": c, "type": k} for c, k in cols.items()]}
                    for t, cols in scope.tables.items()
                ],
            }
        limit = min(int(arguments.get("limit") or self.spec.row_limit), self.spec.row_limit)
        cap = self.spec.max_response_bytes
        sql = check(str(arguments["sql"]), scope, limit, cap)
        columns, rows = await self.runner.fetch(sql, ctx.credentials, cap)
        return {
            "columns": columns,
            "rows": rows[:limit],
            "row_count": min(len(rows), limit),
            "truncated": len(rows) > limit,
        }


def _misconfigured(message: str) -> UpstreamError:
    return UpstreamError(
        f"the database scope is misconfigured: {message}", details={"reason": "misconfigured"}
    )


def view_tool(spec: ViewSpec, runner: Runner, category: str = "data") -> ToolSpec:
    adapter = SqlViewAdapter(spec, runner)
    read = Annotations(read_only=True, idempotent=True, destructive=False, open_world=False)
    tables = ", ".join(spec.tables)
    describe = OperationSpec(
        name="describe",
        description=f"List the tables ({tables}) and columns this scope may query, with types.",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        adapter=adapter,
        annotations=read,
        credentials=dict(spec.credentials),
    )
    query = OperationSpec(
        name="query",
        description=(
            f"Run one read-only SQL SELECT ({runner.dialect} dialect) over the tables {tables}. "
            "Only the tables and columns `describe` lists; joins, GROUP BY/HAVING, window "
            "functions, subqueries, CTEs and UNION are fine; no comments or second statement. "
            f"At most {spec.row_limit} rows and {spec.max_response_bytes} bytes are returned."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "sql": {"type": "string", "minLength": 1, "maxLength": 20_000},
                "limit": {"type": "integer", "minimum": 1, "maximum": spec.row_limit},
            },
            "required": ["sql"],
            "additionalProperties": False,
        },
        adapter=adapter,
        annotations=read,
        timeout=spec.timeout + 5.0,
        credentials=dict(spec.credentials),
    )
    description = spec.description or f"Read-only SQL over the {spec.name} database ({tables})."
    return ToolSpec(spec.name, description, (describe, query), category=category)
