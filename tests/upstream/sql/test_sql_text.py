"""SQLite keeps whatever bytes it was given as TEXT. A value that is not valid UTF-8 comes back
with U+FFFD in place of each bad sequence (as an HTTP upstream's answer does), and the rest of
the result with it, instead of the whole query failing. A real SQLite file, read-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from toolwire.upstream.sql import DatabaseView, check
from toolwire.upstream.sql.runner import SqliteRunner


async def test_invalid_utf8_text_is_read_with_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes VALUES (1, CAST(X'6869ff21' AS TEXT))")  # 'hi', 0xFF, '!'
        db.execute("INSERT INTO notes VALUES (2, CAST(X'eda080' AS TEXT))")  # an encoded surrogate
        db.execute("INSERT INTO notes VALUES (3, 'caf\u00e9')")
    db.close()
    runner = SqliteRunner(path, timeout=10)
    view = DatabaseView("sqlite", {"notes": {"id": "INTEGER", "body": "TEXT"}})
    sql = check("SELECT id, body FROM notes ORDER BY id", view, 100, 10_000)
    columns, rows = await runner.fetch(sql, {}, 10_000)
    assert columns == ["id", "body"]
    assert rows == [[1, "hi\ufffd!"], [2, "\ufffd\ufffd\ufffd"], [3, "caf\u00e9"]]
