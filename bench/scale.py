"""Scaling out: the same work through nginx (examples/deploy/nginx.conf) over 1, 2 and 3
`toolwire serve` instances sharing one PostgreSQL database and one Redis, as a ratio against one
instance in the same run.

    python -m bench.scale [--seconds 5] [--instances 1,2,3] [--out bench/results/scale.json]
    python -m bench.plot_scale bench/results/scale.json docs/scale-out.png

The work: `POST /api/v1/execute` of a priced `echo` (reserve and settle in PostgreSQL) at
concurrency 1 and 32, with wrk (a C load generator on the same machine). Needs wrk and nginx
(Debian: apt-get install wrk nginx), PostgreSQL on 127.0.0.1:5432 (database `test`, or
TOOLWIRE_TEST_PG) and Redis on 6379. Refuses to measure when the 1-minute load average is 3 or
more (the figures would be noise), unless `--force`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import wrk

BODY = '{"tool":"echo","input":{"message":"hello"}}'
PRICES = {"echo": 0.001}
MAX_LOAD = 3.0
CONCURRENCY = (1, 32)


def measure(instances: int, seconds: float) -> dict[str, Any]:
    """One cluster of `instances` behind nginx: priced and free echo at c=1 and c=32."""
    from tests.support.cluster import running_cluster, scratch_postgres

    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_postgres() as database,
        running_cluster(
            Path(tmp),
            database=database,
            instances=instances,
            config={"prices": PRICES},
            env={"TOOLWIRE_LOG_LEVEL": "warning"},
        ) as cluster,
    ):
        _, key = cluster.front.create_account(credits=10_000_000, name="bench")
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        url = f"{cluster.front.url}/api/v1/execute"
        wrk.run(url, BODY, headers, connections=8, seconds=2)  # warm every instance up
        runs: dict[str, Any] = {}
        for conns in CONCURRENCY:
            runs[f"priced@{conns}"] = wrk.run(
                url, BODY, headers, connections=conns, seconds=seconds
            ).__dict__
        return runs


def ratios(by_count: dict[int, dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Throughput of each run against one instance's, per run name."""
    one = by_count[min(by_count)]
    return {
        name: {
            n: round(runs[name]["rps"] / max(one[name]["rps"], 1e-9), 3)
            for n, runs in by_count.items()
        }
        for name in one
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--instances", default="1,2,3")
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale.json"))
    parser.add_argument("--force", action="store_true", help="measure even on a loaded machine")
    args = parser.parse_args()
    wrk.require_wrk()
    load = os.getloadavg()[0]
    if load >= MAX_LOAD and not args.force:
        sys.exit(f"load average {load:.1f} >= {MAX_LOAD}: the figures would be noise (--force)")
    counts = [int(n) for n in args.instances.split(",")]
    by_count = {n: measure(n, args.seconds) for n in counts}
    result = {
        "load_before": load,
        "cpus": os.cpu_count(),
        "runs": {str(n): runs for n, runs in by_count.items()},
        "ratio_vs_one": {k: {str(n): r for n, r in v.items()} for k, v in ratios(by_count).items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, by_n in result["ratio_vs_one"].items():
        line = "  ".join(
            f"{n}: {by_count[int(n)][name]['rps']:.0f} req/s ({r:.2f}x)" for n, r in by_n.items()
        )
        print(f"{name:>10}  {line}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
