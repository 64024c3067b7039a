"""The SQL guard: a query runs only as a SELECT rebuilt from an allow-list over the scope.

`check(sql, scope, row_limit)` returns the SQL to send, or raises `Forbidden` with a
machine-readable `details.reason`. In order:

1. parse one statement in the database's dialect; comments and a second statement are refused;
2. `allowlist.check_nodes`: every node is an allowed type (SELECT and set operations, joins,
   predicates, AND/OR/NOT, CASE, windows, subqueries, non-recursive CTEs), every function and
   CAST target is allow-listed, and only the permitted clauses of a SELECT are set;
3. `names.canonicalise`: every identifier becomes the key the database itself compares by
   (PostgreSQL folds unquoted names, SQLite ignores ASCII case), quoted;
4. sqlglot's `qualify` against a schema made ONLY of the allowed columns: `*` and `t.*` expand to
   the allowed columns, `USING`/`NATURAL` joins become explicit `ON`s, every column becomes
   `source.column`, and a name that is not an allowed column does not resolve;
5. the allow-list again on the qualified tree, then `references.check_references`: every column
   is an allowed column of an allowed table (by schema), or an output of the query's own derived
   tables; anything else, such as a table alias used as a value, is refused;
6. the checked tree — never the caller's text — is regenerated and wrapped (`envelope.py`) with
   the row limit and the per-value byte cap.

See docs/design/sql-guard.md for why it is built this way. What it is not: the only barrier;
the runner also opens the database read-only with a statement timeout (`runner.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot.expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.sql.allowlist import FUNCTIONS, check_nodes, refuse
from toolwire.upstream.sql.envelope import wrap
from toolwire.upstream.sql.names import DEFAULT_SCHEMA, ScopeTables, canonicalise
from toolwire.upstream.sql.references import check_references, check_tables

SAFE_FUNCTIONS = frozenset(kind.__name__ for kind in FUNCTIONS)
"""Names of the sqlglot function classes a query may call (see `allowlist.FUNCTIONS`)."""

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
"""Default byte cap of one result, as for HTTP upstreams' `max_response_bytes`."""


@dataclass(frozen=True)
class DatabaseView:
    """What a query may see.

    `tables`: `"table"` or `"schema.table"` -> allowed column -> type, in the database's own
    spelling; an unqualified table lives in `schema` (the connection's current schema, or the
    dialect's default). `functions`: extra function names the operator allows.
    """

    dialect: str
    tables: Mapping[str, Mapping[str, str]]
    functions: frozenset[str] = frozenset()
    schema: str | None = None

    def resolved(self) -> ScopeTables:
        return ScopeTables(self.dialect, self.tables, self.schema or DEFAULT_SCHEMA[self.dialect])


def check(sql: str, scope: DatabaseView, row_limit: int, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The SQL to run for `sql`: checked, regenerated, at most `row_limit` + 1 rows and no value
    over `max_bytes`. Raises `InvalidArguments` for an empty query, `Forbidden` otherwise."""
    if not sql.strip():
        raise InvalidArguments(details={"errors": [{"path": "/sql", "message": "empty query"}]})
    tree = _parse(sql, scope.dialect)
    extra = frozenset(f.lower() for f in scope.functions)
    check_nodes(tree, scope.dialect, extra)
    tables = scope.resolved()
    canonicalise(tree, scope.dialect)
    check_tables(tree, tables)
    qualified = _qualify(tree, tables)
    check_nodes(qualified, scope.dialect, extra)
    check_references(qualified, tables)
    names = qualified.named_selects
    return wrap(qualified, names, scope.dialect, row_limit, max_bytes)


def _parse(sql: str, dialect: str) -> exp.Query:
    reader = Dialect.get_or_raise(dialect)
    try:
        tokens = reader.tokenize(sql)
        if any(token.comments for token in tokens):
            raise refuse("comment", "comments are not allowed in a query")
        statements = [s for s in reader.parser().parse(tokens, sql) if s is not None]
    except (ParseError, TokenError) as exc:
        raise refuse("unparsable", f"the query could not be parsed: {_first(exc)}") from None
    if len(statements) != 1:
        raise refuse("multiple_statements", "exactly one statement is allowed")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise refuse("not_select", f"only SELECT is allowed, not {tree.key.upper()}")
    return tree


def _qualify(tree: exp.Query, tables: ScopeTables) -> exp.Query:
    """`tree` qualified against the allowed columns only, with exact (case-sensitive) names."""
    dialect = _exact_names(tables.dialect)
    mapping: dict[str, object] = dict(tables.sqlglot_schema())
    schema = MappingSchema(mapping, dialect=dialect, normalize=False)
    try:
        qualified = qualify(
            tree,
            schema=schema,
            db=tables.default_schema,
            dialect=dialect,
            validate_qualify_columns=True,
            quote_identifiers=True,
            identify=True,
        )
    except SqlglotError as exc:
        message = f"a column is outside this scope: {_first(exc)}"
        raise refuse("column_not_allowed", message) from None
    assert isinstance(qualified, exp.Query)
    return qualified


@functools.cache
def _exact_names(dialect: str) -> Dialect:
    """`dialect` with case-sensitive names: `names.canonicalise` already folded them."""
    return Dialect.get_or_raise(f"{dialect}, normalization_strategy = case_sensitive")


def _first(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__
