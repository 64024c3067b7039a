"""Fixtures for storage tests: `db_url` (tests/conftest.py) runs each over SQLite and PostgreSQL."""

from __future__ import annotations


# --- the store ---------------------------------------------------------------------------------
