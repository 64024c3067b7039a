"""The reference check: every table and column a qualified query names is an allowed one.

Runs on the tree sqlglot's `qualify` produced against a schema made only of the allowed columns,
so every surviving column reference is `source.column`. This walks sqlglot's scopes and accepts a
reference only when it is one of:

- `t.c` where `t` is an allowed table (by schema and name) and `c` one of its allowed columns;
- `d.c` where `d` is a derived table, CTE or set operation of the query and `c` one of its output
  names (whose own expressions were checked the same way, in their own scope);
- `c` alone as a whole ORDER BY key, where `c` is an output name of that same SELECT.

Anything else — a table alias used as a value (`CAST(c AS TEXT)`, `c = c`), a table outside the
scope, a bare name the database might resolve differently — is refused. Every `Column` node of the
tree must have been accepted by one of these rules, or the query is refused.
"""

from __future__ import annotations

import sqlglot.expressions as exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from toolwire.upstream.sql.allowlist import refuse
from toolwire.upstream.sql.names import ScopeTables


def check_tables(tree: exp.Expr, tables: ScopeTables) -> None:
    """Refuse a (canonicalised) query naming a table outside the scope, before it is qualified.

    A name without a schema that matches one of the query's own CTEs is left to
    `check_references`, which knows what each name resolves to; this early pass only gives the
    clearer reason.
    """
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.args.get("catalog") or not isinstance(table.this, exp.Identifier):
            raise refuse("table_not_allowed", f"{table.sql()!r} is not an allowed table")
        if not table.db and table.name in ctes:
            continue
        probe = exp.Table(
            this=table.this.copy(),
            db=exp.to_identifier(table.db or tables.default_schema, quoted=True),
        )
        if tables.find(probe) is None:
            name = ".".join(p for p in (table.db, table.name) if p)
            raise refuse("table_not_allowed", f"table {name!r} is outside this scope")


def check_references(tree: exp.Expr, tables: ScopeTables) -> None:
    """Refuse `tree` unless each of its tables and columns is allowed (see the module doc)."""
    accepted: set[int] = set()
    for scope in traverse_scope(tree):
        _check_sources(scope, tables)
        aliases = {id(column) for column in _order_aliases(scope)}
        for column in scope.columns:
            if id(column) not in aliases:
                _check_column(column, scope, tables)
        accepted |= aliases | {id(column) for column in scope.columns}
    for column in tree.find_all(exp.Column):
        if id(column) not in accepted:
            raise _whole_row(column)
    for table in tree.find_all(exp.Table):
        if not table.db and not _cte_in_sight(table):
            raise refuse("table_not_allowed", f"table {table.name!r} is outside this scope")


def _cte_in_sight(table: exp.Table) -> bool:
    """Whether an unqualified table name is a CTE the database will see from where it stands:
    one defined by an enclosing WITH, before the CTE the name sits in (WITH RECURSIVE is
    refused). Any other unqualified name would be resolved through the search path instead."""
    child: exp.Expr = table
    parent = table.parent
    while parent is not None:
        with_ = parent.args.get("with_") if isinstance(parent, exp.Query) else None
        if isinstance(with_, exp.With):
            visible = list(with_.expressions)
            for i, cte in enumerate(visible):
                if any(node is child for node in cte.walk()):
                    visible = visible[:i]
                    break
            if any(cte.alias == table.name for cte in visible):
                return True
        child, parent = parent, parent.parent
    return False


def _check_sources(scope: Scope, tables: ScopeTables) -> None:
    for source in scope.sources.values():
        if not isinstance(source, exp.Table):
            continue
        if tables.find(source) is None:
            name = ".".join(p for p in (source.db, source.name) if p)
            raise refuse("table_not_allowed", f"table {name!r} is outside this scope")
        alias = source.args.get("alias")
        if alias is not None and alias.columns:
            # `t AS x(a, b)` renames the table's real columns by position, hidden ones included
            raise refuse("clause_not_allowed", "column aliases on a table are not allowed")
    for join in scope.expression.args.get("joins") or ():
        if join.args.get("using") or join.args.get("method"):
            raise refuse("clause_not_allowed", "this join form is not allowed")


def _check_column(column: exp.Column, scope: Scope, tables: ScopeTables) -> None:
    if not isinstance(column.this, exp.Identifier) or not column.table:
        raise _whole_row(column)
    source = _source(column.table, scope)
    if isinstance(source, exp.Table):
        allowed = tables.find(source)
        if allowed is not None and column.name in tables.sqlglot_columns(allowed):
            return
        raise refuse("column_not_allowed", f"column {column.name!r} is outside this scope")
    if isinstance(source, Scope) and column.name in _output_names(source):
        return
    raise refuse("column_not_allowed", f"column {column.sql()!r} does not resolve in this scope")


def _source(name: str, scope: Scope) -> exp.Table | Scope | None:
    current: Scope | None = scope
    while current is not None:
        found = current.sources.get(name)
        if found is not None:
            return found
        current = current.parent
    return None


def _output_names(scope: Scope) -> set[str]:
    expression = scope.expression
    while isinstance(expression, exp.SetOperation):
        expression = expression.this
    if isinstance(expression, exp.Subquery):
        expression = expression.unnest()
    return set(expression.named_selects) if isinstance(expression, exp.Query) else set()


def _order_aliases(scope: Scope) -> list[exp.Column]:
    """Bare ORDER BY keys that name an output column of this scope's own SELECT."""
    order = scope.expression.args.get("order")
    if order is None:
        return []
    names = _output_names(scope)
    return [
        key.this
        for key in order.expressions
        if isinstance(key, exp.Ordered)
        and isinstance(key.this, exp.Column)
        and not key.this.table
        and isinstance(key.this.this, exp.Identifier)
        and key.this.name in names
    ]


def _whole_row(column: exp.Column) -> Exception:
    return refuse(
        "whole_row",
        f"{column.sql()!r} is not an allowed column (whole-row references are not allowed)",
    )
