"""The audit sink alone: the cost of writing one audit record, per backend. No HTTP, no gateway.

    python bench/audit_sink.py [--events 20000] [--prefill 200000] [--json]
    python bench/audit_sink.py --pg postgresql://postgres@127.0.0.1:5432/test ...
    PYTHONPATH=/path/to/other/checkout python bench/audit_sink.py ...   # the other side

Runs by path (not `-m`) so that `PYTHONPATH` decides which `toolwire` it measures (A/B of two
checkouts, interleaved by the caller). A fresh database (SQLite file, or a PostgreSQL database
made for the run and dropped after) gets `--prefill` records first, written by the same sink with
the checkout's own call ids (the unique call-id index's size and key order are part of the
cost), then `--events` records in batches of the sink's size (500): `record` each, `flush`.

Figures per record: `cpu_us`, the process's CPU (every thread: the event loop, the SQLite
writer thread, the driver) and `wall_us`; for SQLite also `writer_us`, the audit writer thread's
own CPU. The records are a free REST echo call's (no kept arguments). Checks that every record was
stored once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # run by path: bench/ must not shadow packages

from sqlalchemy import text

import toolwire
from toolwire.core.model import AuditEvent
from toolwire.store import Store

BATCH = 500


def event(i: int) -> AuditEvent:
    """A free REST echo call's record (its call id from the checkout's own default)."""
    return AuditEvent(
        request_id=f"req_{i:012x}{secrets.token_hex(4)}",
        at=time.time(),
        account_id="acc_benchbenchbenchbe",
        key_id="key_benchbenchbenchbe",
        tool="echo",
        operation="echo",
        door="rest",
        outcome="OK",
        credits_charged=0,
        latency_ms=0.2,
        arguments_digest="hmac-sha256:" + "ab" * 32,
    )


def writer_cpu() -> float:
    """CPU seconds of the process's `audit-writer*` threads (Linux /proc)."""
    total = 0.0
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        if not names.get(int(tid), "").startswith("audit-writer"):
            continue
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def write(store: Store, count: int) -> None:
    for start in range(0, count, BATCH):
        for i in range(start, min(count, start + BATCH)):
            store.audit.record(event(i))
        await store.audit.flush()


async def measure(url: str, prefill: int, events: int) -> dict[str, float]:
    store = await Store.open(url)
    try:
        await write(store, prefill)
        cpu, wall, writer = time.process_time(), time.perf_counter(), writer_cpu()
        await write(store, events)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        writer = writer_cpu() - writer
        async with store.engine.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM audit_events"))).scalar()
        assert stored == prefill + events, (stored, prefill + events)
        figures = {"cpu_us": 1e6 * cpu / events, "wall_us": 1e6 * wall / events}
        if store.engine.dialect.name == "sqlite":
            figures["writer_us"] = 1e6 * writer / events
        return figures
    finally:
        await store.close()


async def main(prefill: int, events: int, pg: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"toolwire": str(Path(toolwire.__file__).parent)}
    if pg is None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            out["sqlite"] = await measure(url, prefill, events)
        return out
    import asyncpg  # type: ignore[import-untyped]

    name = f"tw_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        out["postgres"] = await measure(f"{base}/{name}", prefill, events)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--prefill", type=int, default=200_000)
    parser.add_argument("--pg", help="a PostgreSQL DSN (maintenance database) instead of SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.prefill, args.events, args.pg))
    if args.json:
        print(json.dumps(result))
    else:
        print(result.pop("toolwire"))
        for backend, figures in result.items():
            print(backend, " ".join(f"{k}={v:.2f}" for k, v in figures.items()))
