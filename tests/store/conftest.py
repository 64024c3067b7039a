"""Fixtures for storage tests: `db_url` (tests/conftest.py) runs each over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from toolwire.store import Store

# --- the store ---------------------------------------------------------------------------------


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_url)
    try:
        yield opened
    finally:
        await opened.close()
