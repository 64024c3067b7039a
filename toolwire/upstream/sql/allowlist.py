"""What a guarded query may be made of: the sqlglot node types, functions, clauses and casts.

This is the allow-list half of the guard (`guard.py`). A node whose type is not named here is
refused, so a construct sqlglot learns to parse tomorrow is refused until someone adds it. What
it is not: the reference check (`references.py`) that decides *which* columns and tables a node
may name; a permitted node type says nothing about what it reads.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot.expressions as exp

from toolwire.core.errors import Forbidden

NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        # query structure
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.From, exp.Join,
        exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset,
        exp.Distinct, exp.With, exp.CTE, exp.Table, exp.TableAlias, exp.Alias, exp.Column,
        exp.Identifier, exp.Paren, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup,
        # values
        exp.Literal, exp.Boolean, exp.Null, exp.Interval, exp.DataType, exp.DataTypeParam,
        # predicates and connectives
        exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
        exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
        exp.Glob, exp.Escape, exp.RegexpLike, exp.RegexpILike, exp.Exists, exp.Any, exp.All,
        # arithmetic and string operators
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.DPipe,
        exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot,
        exp.BitwiseLeftShift, exp.BitwiseRightShift,
    }
)  # fmt: skip
"""Structural node types, matched exactly (a subclass is not its parent)."""

FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        # aggregates
        exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.GroupConcat, exp.ArrayAgg,
        exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop,
        exp.LogicalAnd, exp.LogicalOr, exp.PercentileCont, exp.PercentileDisc, exp.Corr,
        exp.CovarPop, exp.CovarSamp,
        # conditionals and conversions
        exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Cast, exp.TryCast, exp.Greatest,
        exp.Least,
        # strings
        exp.Lower, exp.Upper, exp.Length, exp.Substring, exp.Trim, exp.Concat, exp.ConcatWs,
        exp.Replace, exp.Initcap, exp.Left, exp.Right, exp.StrPosition, exp.SplitPart,
        exp.RegexpReplace, exp.Unicode, exp.Chr, exp.Hex, exp.MD5, exp.Typeof,
        # numbers
        exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sign, exp.Sqrt, exp.Pow, exp.Exp, exp.Ln,
        exp.Log,
        # dates and times
        exp.Date, exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime, exp.DateTrunc,
        exp.TimestampTrunc, exp.Extract, exp.TimeToStr, exp.StrToTime, exp.StrToDate,
        exp.TsOrDsToTimestamp, exp.TsOrDsToDate, exp.DateAdd, exp.DateSub, exp.DateDiff,
        exp.UnixToTime, exp.TimeToUnix,
        # window functions
        exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile,
        exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
    }
)  # fmt: skip
"""Function node types sqlglot recognises that a query may call: pure, bounded, row-local."""

NAMED_FUNCTIONS: Mapping[str, frozenset[str]] = {
    "sqlite": frozenset(
        {"datetime", "time", "julianday", "unixepoch", "printf", "format", "total", "ltrim",
         "rtrim", "instr", "ifnull", "strftime", "trunc"}
    ),
    "postgres": frozenset(
        {"age", "date_part", "to_char", "to_number", "to_timestamp", "make_date", "btrim",
         "ltrim", "rtrim", "strpos", "trunc", "width_bucket", "justify_days", "justify_hours",
         "justify_interval", "ascii", "reverse", "char_length", "character_length",
         "octet_length", "bool_and", "bool_or", "every", "cbrt", "div", "date_bin"}
    ),
}  # fmt: skip
"""Per dialect: functions sqlglot keeps as `Anonymous` that are still pure and bounded. Makers of
values as large as an argument says (`repeat`, `lpad`, `zeroblob`, `randomblob`,
`generate_series`), catalog and settings readers
(`pg_*`, `current_setting`, `sqlite_*`), and whole-row serialisers (`row_to_json`, `to_jsonb`)
are deliberately absent."""

TYPES: frozenset[exp.DType] = frozenset(
    {
        exp.DataType.Type.BOOLEAN, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
        exp.DataType.Type.BIGINT, exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT,
        exp.DataType.Type.DOUBLE, exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR, exp.DataType.Type.DATE, exp.DataType.Type.TIME,
        exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.INTERVAL,
        exp.DataType.Type.BLOB, exp.DataType.Type.UUID,
    }
)  # fmt: skip
"""Scalar types a CAST may target. Composite, row, array, range, reg* and user-defined types are
not among them, so a cast can never produce or read a whole row (`c::text`, `'...'::regclass`)."""

VAR_PARENTS: tuple[type[exp.Expr], ...] = (
    exp.Extract, exp.Interval, exp.DateTrunc, exp.TimestampTrunc, exp.DateAdd, exp.DateSub,
    exp.DateDiff,
)  # fmt: skip
"""A bare keyword (`Var`: YEAR, MONTH, ...) is printed unquoted, so it is allowed only as the
unit of these functions, never where the database could read it as a name."""

CLAUSES: Mapping[type[exp.Expr], frozenset[str]] = {
    exp.Select: frozenset(
        {"with_", "expressions", "distinct", "from_", "joins", "where", "group", "having",
         "windows", "order", "limit", "offset"}
    ),
    exp.Union: frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"}),
    exp.Join: frozenset({"this", "on", "side", "kind", "using", "method"}),
    exp.Table: frozenset({"this", "db", "alias"}),
    exp.With: frozenset({"expressions"}),
    exp.CTE: frozenset({"this", "alias", "materialized"}),
    exp.Column: frozenset({"this", "table"}),
    exp.Intersect: frozenset({"with_", "this", "expression", "distinct", "order", "limit",
                              "offset"}),
    exp.Except: frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"}),
}  # fmt: skip
"""For these node types, the arguments that may be set. Anything else (`INTO`, `FOR UPDATE`,
`LATERAL`, `TABLESAMPLE`, `ONLY`, `WITH RECURSIVE`, hints, `AS OF`...) is refused."""


def refuse(reason: str, message: str) -> Forbidden:
    """The one way the guard says no: FORBIDDEN with a machine-readable `details.reason`."""
    return Forbidden(message, details={"reason": reason})


def check_nodes(tree: exp.Expr, dialect: str, extra: frozenset[str]) -> None:
    """Refuse the first node of `tree` that the allow-list does not name.

    `extra` holds operator-configured function names (lower case). Raises `Forbidden` with
    reason `not_select`, `clause_not_allowed`, `function_not_allowed`, `type_not_allowed`,
    `whole_row` or `syntax_not_allowed`.
    """
    named = NAMED_FUNCTIONS.get(dialect, frozenset()) | extra
    for node in tree.walk():
        kind = type(node)
        if kind is exp.Anonymous:
            if node.name.lower() not in named or not isinstance(node.this, str):
                raise refuse("function_not_allowed", f"function {node.name!r} is not allowed")
        elif kind is exp.Star:
            _check_star(node)
        elif kind is exp.Var:
            if not isinstance(node.parent, VAR_PARENTS):
                raise refuse("syntax_not_allowed", f"{node.sql()!r} is not allowed here")
        elif kind is exp.DataType:
            if node.this not in TYPES or node.args.get("nested"):
                raise refuse("type_not_allowed", f"the type {node.sql()!r} is not allowed")
        elif kind in FUNCTIONS:
            continue
        elif kind not in NODES:
            raise refuse(_reason_for(node), f"{_label(node)} is not allowed in a query")
        _check_clauses(node)


def _check_star(star: exp.Expr) -> None:
    """`*` stays only as `COUNT(*)`; a select-list `*` is expanded to the allowed columns first."""
    parent = star.parent
    if isinstance(parent, exp.Count) and parent.this is star:
        return
    if isinstance(parent, exp.Select) and star in parent.expressions:
        return
    if isinstance(parent, exp.Column) and isinstance(parent.parent, exp.Select):
        return  # `t.*` in the select list: expanded like `*`
    raise refuse("whole_row", "a whole-row reference (`*`, `t.*`) is only allowed as a column list")


def _check_clauses(node: exp.Expr) -> None:
    allowed = CLAUSES.get(type(node))
    if allowed is None:
        return
    for key, value in node.args.items():
        if value in (None, False, []) or key in allowed:
            continue
        raise refuse("clause_not_allowed", f"{key.rstrip('_').upper()} is not allowed here")
    if isinstance(node, exp.With) and node.args.get("recursive"):
        raise refuse("clause_not_allowed", "WITH RECURSIVE is not allowed")


def _reason_for(node: exp.Expr) -> str:
    if isinstance(node, exp.DML | exp.DDL | exp.Command):
        return "not_select"
    if isinstance(node, exp.Placeholder | exp.Parameter):
        return "parameter"
    if isinstance(node, exp.Tuple | exp.Dot | exp.Struct | exp.TableColumn):
        return "whole_row"
    if isinstance(node, exp.Func):
        return "function_not_allowed"
    return "syntax_not_allowed"


def _label(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()!r}"
    return f"{node.key.upper()} ({node.sql()[:60]!r})"
