"""REST hot path: `POST /api/v1/execute` of a priced `echo` through the full call path, against a
bare Starlette echo under the same server settings, at concurrency 1 and 32, in one run.

    python -m bench.rest [--seconds 5] [--database-url postgresql://...] [--json]

Targets (2-core machine): the gateway adds at most 1 ms at p50 at concurrency 1, and keeps at
least half the baseline's throughput at concurrency 32.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import wrk
from bench.servers import baseline_server
from toolwire.testing import running_gateway

BODY = '{"tool":"echo","input":{"message":"hello"}}'
PRICE = 0.001


def measure(seconds: float, database_url: str | None, price: float = PRICE) -> dict[str, Any]:
    results: dict[str, Any] = {}
    env = {"TOOLWIRE_DATABASE_URL": database_url} if database_url else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        baseline_server() as base,
        running_gateway(Path(tmp), config={"prices": {"echo": price}}, env=env) as gw,
    ):
        _, key = gw.create_account(credits=10_000_000)
        targets = {
            "baseline": (f"{base}/echo", {"Content-Type": "application/json"}),
            "gateway": (
                f"{gw.url}/api/v1/execute",
                {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            ),
        }
        for url, headers in targets.values():  # warm both up
            wrk.run(url, BODY, headers, connections=8, seconds=1)
        for conns in (1, 32):
            for name, (url, headers) in targets.items():
                results[f"{name}@{conns}"] = wrk.run(
                    url, BODY, headers, connections=conns, seconds=seconds
                ).__dict__
    return results


def report(results: dict[str, Any], *, as_json: bool) -> None:
    c1_added = results["gateway@1"]["p50_ms"] - results["baseline@1"]["p50_ms"]
    c32_ratio = results["gateway@32"]["rps"] / max(results["baseline@32"]["rps"], 1e-9)
    summary = {
        "added_p50_ms_at_c1": round(c1_added, 3),
        "throughput_ratio_at_c32": round(c32_ratio, 3),
        "target_added_p50_ms_at_c1": 1.0,
        "target_throughput_ratio_at_c32": 0.5,
        "runs": results,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title="REST execute (priced echo) vs bare Starlette echo")
    for col in ("run", "p50 ms", "p99 ms", "req/s", "requests", "errors"):
        table.add_column(col, justify="right" if col != "run" else "left")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['p50_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['rps']:.0f}",
            str(r["requests"]),
            str(r["errors"]),
        )
    console = Console()
    console.print(table)
    console.print(
        f"added p50 at c=1: [bold]{c1_added:.3f} ms[/] (target <= 1 ms)   "
        f"throughput ratio at c=32: [bold]{c32_ratio:.2f}[/] (target >= 0.5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--price", type=float, default=PRICE, help="credits per echo (0: free)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(measure(args.seconds, args.database_url, args.price), as_json=args.json)


if __name__ == "__main__":
    main()
