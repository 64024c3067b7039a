"""The cost of rate limits and policy (with the audit as it is today, on in both): `POST
/api/v1/execute` of a free `echo` through a gateway whose catalog sets every limit kind and an
argument policy on it, against the same gateway with neither, both started the same way in the
same run, at concurrency 1 and 32. Limits count in memory, or in Redis with `--redis`.

    python -m bench.limits [--seconds 5] [--redis redis://127.0.0.1:6379/15] [--json]

Every limit is far above what the run reaches, so every call is counted and none is refused
(wrk's non-2xx count shows it). Figures: added p50 (on - off) at c=1, and the throughput ratio
on/off at c=32 (target: at least 0.90, i.e. no more than 10% lost). Measure on an idle machine
(load average under 3): a shared, loaded machine makes the ratio noise.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import wrk
from toolwire.testing import running_gateway

BODY = '{"tool":"echo","input":{"message":"hello"}}'
HIGH = "100000000/hour"
LIMITED: dict[str, Any] = {
    "limits": {
        "per_key": HIGH,
        "per_key_tool": HIGH,
        "tools": {"echo": {"all_keys": HIGH}},
        "plans": {"default": {"per_account": HIGH}},
    },
    "policy": {"echo": {"arguments": {"message": {"forbid": ["(?i)drop\\s+table"]}}}},
}


def measure(seconds: float, state_url: str | None) -> dict[str, Any]:
    env = {"TOOLWIRE_STATE_URL": state_url} if state_url else {}
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_gateway(Path(tmp) / "off", env=env) as off,
        running_gateway(Path(tmp) / "on", config=LIMITED, env=env) as on,
    ):
        results.update(wrk.compare({"off": off, "on": on}, BODY, seconds=seconds, credits=10))
    return results


def summary(results: dict[str, Any]) -> dict[str, float]:
    return {
        "added_p50_ms_at_c1": round(results["on@1"]["p50_ms"] - results["off@1"]["p50_ms"], 3),
        "throughput_ratio_at_c32": round(
            results["on@32"]["rps"] / max(results["off@32"]["rps"], 1e-9), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--redis", default=None, help="count in this Redis (a scratch db)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    runs = measure(args.seconds, args.redis)
    figures = summary(runs)
    if args.json:
        print(json.dumps({"load_average": load, "runs": runs, "summary": figures}, indent=2))
        return
    console = Console()
    table = Table(
        title=f"echo with limits and policy (on) vs without (off), {args.redis or 'memory'}"
    )
    for col in ("run", "p50 ms", "p99 ms", "req/s", "requests", "errors"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, r in runs.items():
        table.add_row(name, f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}", f"{r['rps']:.0f}",
                      str(r["requests"]), str(r["errors"]))  # fmt: skip
    console.print(table)
    console.print(
        f"limits and policy add [bold]{figures['added_p50_ms_at_c1']:.3f} ms[/] at p50 (c=1); "
        f"on/off throughput at c=32: [bold]{figures['throughput_ratio_at_c32']:.2f}[/] "
        f"(load average at start {load:.1f})"
    )
    if load >= 3:
        console.print("[yellow]load average >= 3: the figures are not a fair measurement[/]")


if __name__ == "__main__":
    main()
