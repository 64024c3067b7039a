"""Identifiers the way each database compares them, and the scope's tables keyed that way.

- PostgreSQL folds an unquoted name to lower case (ASCII letters only, in a UTF-8 database) and
  takes a quoted name exactly: `orders`, `ORDERS` and `"orders"` are one table, `"Orders"` another
  (PostgreSQL manual, "Identifiers and Key Words").
- SQLite compares every identifier, quoted or not, case-insensitively for ASCII letters only:
  `"Orders"` is `orders`, but `"Ä"` is not `"ä"` (SQLite FAQ, "case-insensitive matching").

`canonical()` turns a query's identifier into the key the database itself would look up, and
`ScopeTables` keys the allowed tables the same way, so a query can reach a table only if the
database would resolve its name to an allowed one. What it is not: the guard (`guard.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlglot.expressions as exp

DEFAULT_SCHEMA = {"sqlite": "main", "postgres": "public"}
"""The schema an unqualified table lives in when the database did not say (tests, tools)."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(name: str) -> str:
    """`name` with A-Z folded to a-z and every other character untouched."""
    return name.translate(_ASCII_LOWER)


def canonical(name: str, quoted: bool, dialect: str) -> str:
    """The key `dialect` compares identifier `name` (quoted or not) by."""
    if dialect == "postgres" and quoted:
        return name
    return ascii_lower(name)


def catalog_key(name: str, dialect: str) -> str:
    """The key of a name as the database's catalog stores it (what introspection returned)."""
    return canonical(name, True, dialect)


@dataclass(frozen=True)
class AllowedTable:
    """One table of a scope, by its catalog names: schema, table and allowed column -> type."""

    schema: str
    name: str
    columns: Mapping[str, str]


class ScopeTables:
    """The allowed tables of a scope, keyed by (schema, table) as the dialect compares them."""

    def __init__(self, dialect: str, tables: Mapping[str, Mapping[str, str]], schema: str) -> None:
        """`tables`: `"table"` or `"schema.table"` -> allowed column -> type, in catalog spelling;
        an unqualified table is in `schema`."""
        self.dialect = dialect
        self.default_schema = catalog_key(schema, dialect)
        self._by_key: dict[tuple[str, str], AllowedTable] = {}
        for key, columns in tables.items():
            table_schema, _, name = key.rpartition(".")
            allowed = AllowedTable(table_schema or schema, name, dict(columns))
            self._by_key[(catalog_key(allowed.schema, dialect), catalog_key(name, dialect))] = (
                allowed
            )

    def __iter__(self) -> Iterator[AllowedTable]:
        return iter(self._by_key.values())

    def find(self, table: exp.Table) -> AllowedTable | None:
        """The allowed table a (canonicalised, schema-qualified) `exp.Table` names, if any."""
        return self._by_key.get((table.db, table.name))

    def sqlglot_columns(self, table: AllowedTable) -> frozenset[str]:
        """The canonical keys of `table`'s allowed columns."""
        return frozenset(catalog_key(c, self.dialect) for c in table.columns)

    def sqlglot_schema(self) -> dict[str, dict[str, dict[str, str]]]:
        """schema -> table -> column -> type, canonical keys, ONLY the allowed columns."""
        nested: dict[str, dict[str, dict[str, str]]] = {}
        for (schema, name), table in self._by_key.items():
            nested.setdefault(schema, {})[name] = {
                catalog_key(c, self.dialect): kind for c, kind in table.columns.items()
            }
        return nested


def canonicalise(tree: exp.Expr, dialect: str) -> None:
    """Rewrite every identifier of `tree`, in place, to its canonical key, quoted.

    After this, name comparison is exact (case-sensitive) everywhere, and the regenerated SQL
    names exactly what the database would have resolved.
    """
    for ident in tree.find_all(exp.Identifier):
        ident.set("this", canonical(ident.name, bool(ident.args.get("quoted")), dialect))
        ident.set("quoted", True)
