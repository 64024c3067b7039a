"""The `sql` adapter: read-only database scopes over SQLite and PostgreSQL (see `adapter.py`)."""

from toolwire.upstream.sql.adapter import ScopeSpec, SqlScopeAdapter, scope_tool
from toolwire.upstream.sql.guard import SAFE_FUNCTIONS, Scope, check
from toolwire.upstream.sql.runner import PostgresRunner, SqliteRunner

__all__ = [
    "SAFE_FUNCTIONS",
    "PostgresRunner",
    "Scope",
    "ScopeSpec",
    "SqlScopeAdapter",
    "SqliteRunner",
    "check",
    "scope_tool",
]
