"""The SQLite ledger alone: one `reserve` then its `settle`, both awaited (what a priced call
waits for), at concurrency 1 and 32. No HTTP, no gateway.

    python bench/ledger_sqlite.py [--calls 2000] [--json]
    PYTHONPATH=/path/to/other/checkout python bench/ledger_sqlite.py ...   # the other side

Runs by path (not `-m`) so that `PYTHONPATH` decides which `toolwire` it measures (A/B of two
checkouts, interleaved by the caller). Figures: reserve+settle µs per call (p50, p99, mean) at
c=1, calls/s at c=32, and the process's CPU µs per call (every thread) at c=1. Checks the
ledger invariant (balance == sum of entries) after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # run by path: bench/ must not shadow packages

import toolwire
from toolwire.store import Store


async def run(store: Store, concurrency: int, total: int) -> dict[str, float]:
    """`total` reserve+settle pairs by `concurrency` callers: latency per pair and calls/s."""
    account = await store.accounts.create_account(f"bench{concurrency}", 10**15)
    _, raw = await store.accounts.create_key(account.id, "bench", ["*"])
    principal = await store.keys.authenticate(raw)
    assert principal is not None
    latencies: list[float] = []

    async def caller(n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            reservation = await store.ledger.reserve(
                principal, 1000, request_id="r", tool="echo", operation="echo"
            )
            await store.ledger.settle(reservation, 1000)
            latencies.append(time.perf_counter() - started)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(total // concurrency) for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await store.ledger.flush()
    assert await store.accounts.ledger_sum(account.id) == await store.ledger.balance(account.id)
    latencies.sort()
    return {
        "p50_us": 1e6 * statistics.median(latencies),
        "p99_us": 1e6 * latencies[int(0.99 * (len(latencies) - 1))],
        "mean_us": 1e6 * statistics.fmean(latencies),
        "cpu_us": 1e6 * cpu / len(latencies),
        "calls_s": len(latencies) / elapsed,
    }


async def main(total: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        try:
            await run(store, 1, 300)  # warm-up
            c1, c32 = await run(store, 1, total), await run(store, 32, total)
            return {"toolwire": str(Path(toolwire.__file__).parent), "c1": c1, "c32": c32}
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.calls))
    if args.json:
        print(json.dumps(result))
    else:
        print(result.pop("toolwire"))
        for name, figures in result.items():
            print(name, " ".join(f"{k}={v:.0f}" for k, v in figures.items()))
