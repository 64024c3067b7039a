"""REST hot path: `POST /api/v1/execute` of a priced `echo` through the full call path, against a
bare Starlette echo under the same server settings, at concurrency 1 and 32, in one run.

    python -m bench.rest [--seconds 5] [--price 0.001] [--database-url postgresql://...] [--json]

Targets (2-core machine): the gateway adds at most 1 ms at p50 at concurrency 1, and keeps at
least half the baseline's throughput at concurrency 32.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.report import Target, measure, report
from bench.servers import baseline_server
from toolwire.testing import running_gateway

BODY = '{"tool":"echo","input":{"message":"hello"}}'
PRICE = 0.001
JSON = {"Content-Type": "application/json"}


def run(seconds: float, database_url: str | None, price: float) -> dict[str, Any]:
    env = {"TOOLWIRE_DATABASE_URL": database_url} if database_url else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        baseline_server() as base,
        running_gateway(Path(tmp), config={"prices": {"echo": price}}, env=env) as gw,
    ):
        _, key = gw.create_account(credits=10_000_000)
        targets: dict[str, Target] = {
            "baseline": (f"{base}/echo", BODY, JSON),
            "rest": (f"{gw.url}/api/v1/execute", BODY, {**JSON, "Authorization": f"Bearer {key}"}),
        }
        return measure(targets, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--price", type=float, default=PRICE, help="credits per echo (0: free)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.seconds, args.database_url, args.price)
    report("REST execute (echo) vs bare Starlette echo", results, as_json=args.json)


if __name__ == "__main__":
    main()
