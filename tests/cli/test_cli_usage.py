"""`toolwire usage` (table, --json, --csv) and the low-balance threshold in `toolwire accounts`."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path

from tests.cli.conftest import Run
from toolwire.core.model import AuditEvent
from toolwire.store import Store


async def _audit(data_dir: Path, account_id: str) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{(data_dir / 'toolwire.db').resolve()}")
    try:
        for outcome, charged in (("OK", 250_000), ("OK", 250_000), ("UPSTREAM_ERROR", 0)):
            store.audit.record(
                AuditEvent("r", time.time(), account_id, "key1", "echo", "echo", "rest", outcome,
                           charged, 1.0)
            )  # fmt: skip
    finally:
        await store.close()


def test_usage_is_shown_as_a_table_json_and_csv(tw: Run, data_dir: Path) -> None:
    account = tw("accounts", "create", "acme", "--credits", "5", "--json").json()["account"]
    asyncio.run(_audit(data_dir, account["id"]))
    as_json = tw("usage", "--account", account["id"], "--json")
    assert as_json.code == 0
    [row] = as_json.json()["usage"]
    assert (row["calls"], row["failures"], row["credits"], row["tool"]) == (3, 1, 0.5, "echo")
    as_csv = tw("usage", "--csv")
    assert [r["calls"] for r in csv.DictReader(io.StringIO(as_csv.out))] == ["3"]
    table = tw("usage")
    assert table.code == 0 and "echo" in table.out
    bad = tw("usage", "--since", "last week")
    assert bad.code == 1


def test_accounts_list_shows_the_low_balance_threshold(tw: Run) -> None:
    created = tw("accounts", "create", "acme", "--credits", "1", "--low-balance", "2", "--json")
    assert created.json()["account"]["low_balance"] == 2
    listed = tw("accounts", "list")
    assert "low balance" in listed.out
