"""The PostgreSQL ledger batch in process: the one-statement batch (`toolwire.store.ledger_pg`)
against the general SQLAlchemy path, same database, same run, at concurrency 1 and 32, with
`synchronous_commit` on (the default: each commit waits for the WAL flush) and off (what the
statements cost without the flush).

    python -m bench.ledger_batch [--calls 400] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Each call is one `reserve` awaited, then one `settle` (which the next batch carries). Figures:
p50 of `reserve` in ms and calls/s. No HTTP, no gateway: the ledger alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.billing import DEFAULT_PG, scratch_postgres
from toolwire.store import Store
from toolwire.store.ledger import SqlLedger


async def calls(store: Store, concurrency: int, total: int) -> dict[str, float]:
    account = await store.accounts.create_account("bench", 10**15)
    _, raw = await store.accounts.create_key(account.id, "bench", ["*"])
    principal = await store.keys.authenticate(raw)
    assert principal is not None
    latencies: list[float] = []

    async def one_caller(n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            reservation = await store.ledger.reserve(
                principal, 1000, request_id="r", tool="echo", operation="echo"
            )
            latencies.append(time.perf_counter() - started)
            await store.ledger.settle(reservation, 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one_caller(total // concurrency) for _ in range(concurrency)))
    await store.ledger.flush()
    elapsed = time.perf_counter() - started
    assert await store.accounts.ledger_sum(account.id) == await store.ledger.balance(account.id)
    return {"p50_ms": 1000 * statistics.median(latencies), "calls_s": len(latencies) / elapsed}


async def measure(url: str, total: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    general = SqlLedger._write_in_one_statement

    async def never(*_: Any) -> None:
        return None

    for sync in ("on", "off"):
        for path in ("one_statement", "general"):
            store = await Store.open(url.replace("postgresql://", "postgresql+asyncpg://"))
            try:
                async with store.engine.begin() as conn:
                    await conn.exec_driver_sql(
                        f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET synchronous_commit = {sync}"
                    )
                await store.close()
                store = await Store.open(url.replace("postgresql://", "postgresql+asyncpg://"))
                SqlLedger._write_in_one_statement = (  # type: ignore[method-assign]
                    general if path == "one_statement" else never  # type: ignore[assignment]
                )
                for conc in (1, 32):
                    results[f"{path}@{conc} sync={sync}"] = await calls(store, conc, total)
            finally:
                SqlLedger._write_in_one_statement = general  # type: ignore[method-assign]
                await store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--postgres", default=DEFAULT_PG, help="maintenance DSN")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with scratch_postgres(args.postgres) as url:
        results = asyncio.run(measure(url, args.calls))
    table = Table(title=f"PostgreSQL ledger batch, in process (load {load:.1f})")
    for col in ("run", "reserve p50 ms", "calls/s"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['p50_ms']:.3f}", f"{r['calls_s']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
