"""Priced calls under a free load, on one gateway (SQLite): `POST /api/v1/execute` of a priced
`echo` at c=16 alone, then beside c=16 of a free `calc.evaluate` on the same gateway at once.

    python -m bench.mixed [--seconds 5] [--json]

What it shows: whether one kind of call starves the other. Both kinds write to the same SQLite
file (the ledger's batches, the audit sink's records) and share one event loop.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import wrk
from bench.billing import BODY
from toolwire.testing import running_gateway

FREE = '{"tool":"calc.evaluate","input":{"expression":"1+2"}}'
PRICE = 0.001


def measure(seconds: float) -> dict[str, wrk.Result]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_gateway(Path(tmp), config={"prices": {"echo": PRICE}}) as gw,
    ):
        _, key = gw.create_account(credits=10_000_000)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        url = f"{gw.url}/api/v1/execute"
        wrk.run(url, BODY, headers, connections=8, seconds=1)
        results = {"priced alone": wrk.run(url, BODY, headers, connections=16, seconds=seconds)}

        def free() -> None:
            results["free, beside"] = wrk.run(url, FREE, headers, connections=16, seconds=seconds)

        beside = threading.Thread(target=free)
        beside.start()
        results["priced, beside"] = wrk.run(url, BODY, headers, connections=16, seconds=seconds)
        beside.join()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.seconds)
    if args.json:
        print(json.dumps({name: r.__dict__ for name, r in results.items()}, indent=2))
        return
    table = Table(title="priced calls beside free calls, one gateway (c=16 each)")
    for col in ("run", "p50 ms", "p99 ms", "req/s"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.rps:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
