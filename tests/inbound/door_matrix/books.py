"""The gateway's own records, read the way an auditor reads them: its SQLite file, opened
read-only with the standard library (never through `toolwire.store`). The audit log has no
admin endpoint, so this is how the suite sees it.

Audit events are written in batches off the request path, and a cancelled call resolves its
reservation after the client left: these facts appear a moment later, in another process, with
no event to wait on; `wait_for` polls for them, bounded.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL_S = 0.02
WITHIN_S = 10.0


def _read(data_dir: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    uri = f"file:{(data_dir / 'toolwire.db').resolve()}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=5) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def audit_record(data_dir: Path, request_id: str) -> dict[str, Any] | None:
    """The audit event of one request, or None while it is not written yet."""
    rows = _read(data_dir, "SELECT * FROM audit_events WHERE request_id = ?", request_id)
    return dict(rows[0]) if rows else None


def open_reservations(data_dir: Path, account_id: str) -> int:
    """Reservations of the account that are neither charged nor released yet."""
    rows = _read(
        data_dir,
        "SELECT COUNT(*) FROM ledger_entries r WHERE r.account_id = ? AND r.kind = 'reserve' "
        "AND NOT EXISTS (SELECT 1 FROM ledger_entries s WHERE s.reservation_id = r.reservation_id "
        "AND s.kind IN ('charge', 'release'))",
        account_id,
    )
    return int(rows[0][0])


def charges(data_dir: Path, account_id: str) -> int:
    rows = _read(
        data_dir,
        "SELECT COUNT(*) FROM ledger_entries WHERE account_id = ? AND kind = 'charge'",
        account_id,
    )
    return int(rows[0][0])


def wait_for(check: Callable[[], bool], what: str, within: float = WITHIN_S) -> None:
    """Return once `check()` holds; fail after `within` seconds saying `what` never happened."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"within {within:g}s: {what}")
        time.sleep(POLL_S)


def entries(data_dir: Path, account_id: str, kind: str) -> int:
    """How many ledger entries of `kind` (reserve, charge, release, ...) the account has."""
    rows = _read(
        data_dir,
        "SELECT COUNT(*) FROM ledger_entries WHERE account_id = ? AND kind = ?",
        account_id,
        kind,
    )
    return int(rows[0][0])


def audit_outcomes(data_dir: Path, account_id: str) -> list[tuple[str, int]]:
    """(outcome, credits_charged) of every audit event of the account, oldest first."""
    rows = _read(
        data_dir,
        "SELECT outcome, credits_charged FROM audit_events WHERE account_id = ? ORDER BY id",
        account_id,
    )
    return [(row[0], int(row[1])) for row in rows]
