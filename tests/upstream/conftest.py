"""Adapter tests: the SQLite-only `sqlite_url` for tests that do not need both backends."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'toolwire.db'}"
