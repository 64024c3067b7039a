"""The `sql` adapter: read-only database scopes over SQLite and PostgreSQL (see `adapter.py`)."""

from toolwire.upstream.sql.adapter import SqlViewAdapter, ViewSpec, view_tool
from toolwire.upstream.sql.guard import SAFE_FUNCTIONS, DatabaseView, check
from toolwire.upstream.sql.runner import PostgresRunner, SqliteRunner

__all__ = [
    "SAFE_FUNCTIONS",
    "DatabaseView",
    "PostgresRunner",
    "SqlViewAdapter",
    "SqliteRunner",
    "ViewSpec",
    "check",
    "view_tool",
]
