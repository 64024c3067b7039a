"""The SQL guard: a query is accepted only when it is provably one read-only SELECT over the scope.

`check(sql, scope)` parses with sqlglot in the database's dialect and refuses, as `Forbidden` with
a machine-readable reason, anything that is not exactly:

- one statement (no `;`-separated second one), that is a SELECT (no set operations, no
  INSERT/UPDATE/DELETE/DDL/PRAGMA/ATTACH/SET...), without comments anywhere;
- with no CTE (`WITH`), no `SELECT ... INTO`, no row locks (`FOR UPDATE`), no parameters;
- reading only allow-listed tables, unqualified (no `schema.table`, no table-valued functions);
- naming only allow-listed columns: the query is qualified against a schema that contains *only*
  the allowed columns, so `*` expands to them and anything else does not resolve;
- calling only allow-listed functions (aggregates, string, math, date, CASE/CAST/COALESCE...).

The accepted query is regenerated from the parse tree (so nothing of the original text, comments
included, reaches the database) and wrapped in an outer SELECT with the row limit. What this is
not: the only barrier — the runner also opens the database read-only (`runner.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.qualify import qualify

from toolwire.core.errors import Forbidden, InvalidArguments

SAFE_FUNCTIONS = frozenset(
    {
        # aggregates
        "Count", "Sum", "Avg", "Min", "Max", "GroupConcat", "StringAgg", "ArrayAgg",
        # conditionals and conversions
        "Case", "If", "Coalesce", "Nullif", "Cast", "TryCast", "Greatest", "Least",
        # strings
        "Lower", "Upper", "Length", "Substring", "Trim", "Concat", "Replace", "Initcap",
        "Left", "Right", "Lpad", "Rpad", "StrPosition",
        # numbers
        "Abs", "Round", "Floor", "Ceil", "Mod", "Sign", "Sqrt", "Pow", "Exp", "Ln", "Log",
        # dates
        "Date", "CurrentDate", "CurrentTimestamp", "CurrentTime", "DateTrunc", "Extract",
        "TimeToStr", "StrToTime", "TsOrDsToTimestamp", "TsOrDsToDate", "DateAdd", "DateSub",
        "DateDiff", "TimestampTrunc",
        # windows
        "RowNumber", "Rank", "DenseRank", "Lag", "Lead", "FirstValue", "LastValue",
    }
)  # fmt: skip
"""sqlglot expression classes a query may call. Anything sqlglot does not recognise (an
`Anonymous` function: pg_sleep, load_extension, dblink, ...) is refused unless configured."""


@dataclass(frozen=True)
class Scope:
    """What a query may see: table -> allowed column -> type, and extra function names."""

    dialect: str
    tables: Mapping[str, Mapping[str, str]]
    functions: frozenset[str] = frozenset()


def refuse(reason: str, message: str) -> Forbidden:
    return Forbidden(message, details={"reason": reason})


def check(sql: str, scope: Scope, row_limit: int) -> str:
    """The SQL to run for `sql`: validated, regenerated, and limited to `row_limit` + 1 rows."""
    if not sql.strip():
        raise InvalidArguments(details={"errors": [{"path": "/sql", "message": "empty query"}]})
    try:
        tokens = sqlglot.tokenize(sql, read=scope.dialect)
        if any(token.comments for token in tokens):
            raise refuse("comment", "comments are not allowed in a query")
        statements = [s for s in sqlglot.parse(sql, read=scope.dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise refuse("unparsable", f"the query could not be parsed: {_first(exc)}") from None
    if len(statements) != 1:
        raise refuse("multiple_statements", "exactly one statement is allowed")
    tree = statements[0]
    if not isinstance(tree, exp.Select):
        raise refuse("not_select", f"only SELECT is allowed, not {tree.key.upper()}")
    _check_shape(tree)
    _check_tables(tree, scope)
    _check_functions(tree, scope)
    qualified = _qualify(tree, scope)
    inner = qualified.sql(dialect=scope.dialect, comments=False)
    return f"SELECT * FROM ({inner}) AS _toolwire_q LIMIT {int(row_limit) + 1}"


def _check_shape(tree: exp.Expression) -> None:
    forbidden: Iterable[tuple[type[exp.Expression], str, str]] = (
        (exp.With, "cte", "WITH (common table expressions) is not allowed"),
        (exp.CTE, "cte", "WITH (common table expressions) is not allowed"),
        (exp.Into, "select_into", "SELECT ... INTO is not allowed"),
        (exp.Lock, "locking", "row locks (FOR UPDATE/SHARE) are not allowed"),
        (exp.Placeholder, "parameter", "query parameters are not allowed"),
        (exp.Parameter, "parameter", "query parameters are not allowed"),
        (exp.Union, "set_operation", "UNION/INTERSECT/EXCEPT are not allowed"),
        (exp.Command, "not_select", "only SELECT is allowed"),
    )
    for node in tree.walk():
        for kind, reason, message in forbidden:
            if isinstance(node, kind):
                raise refuse(reason, message)
        if isinstance(node, exp.Query) and not isinstance(node, exp.Select | exp.Subquery):
            raise refuse("not_select", "only SELECT subqueries are allowed")
        if isinstance(node, exp.DML | exp.DDL):
            raise refuse("not_select", "only SELECT is allowed")


def _check_tables(tree: exp.Expression, scope: Scope) -> None:
    allowed = {name.lower() for name in scope.tables}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise refuse("table_function", "table-valued functions are not allowed")
        if table.args.get("db") or table.args.get("catalog"):
            raise refuse(
                "table_not_allowed", f"schema-qualified tables are not allowed: {table.sql()}"
            )
        if table.name.lower() not in allowed:
            raise refuse("table_not_allowed", f"table {table.name!r} is outside this scope")


def _check_functions(tree: exp.Expression, scope: Scope) -> None:
    extra = {f.lower() for f in scope.functions}
    for func in tree.find_all(exp.Func):
        if isinstance(func, exp.Anonymous):
            if func.name.lower() in extra:
                continue
            raise refuse("function_not_allowed", f"function {func.name!r} is not allowed")
        if type(func).__name__ in SAFE_FUNCTIONS or func.sql_name().lower() in extra:
            continue
        raise refuse("function_not_allowed", f"function {func.sql_name()!r} is not allowed")


def _qualify(tree: exp.Expression, scope: Scope) -> exp.Expression:
    schema: dict[str, object] = {table: dict(columns) for table, columns in scope.tables.items()}
    try:
        return qualify(
            tree.copy(),
            schema=schema,
            dialect=scope.dialect,
            validate_qualify_columns=True,
            quote_identifiers=True,
        )
    except SqlglotError as exc:
        message = f"a column is outside this scope: {_first(exc)}"
        raise refuse("column_not_allowed", message) from None


def _first(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__
