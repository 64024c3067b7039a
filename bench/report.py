"""Run named targets at concurrency 1 and 32 with wrk, and print them against the baseline.

Shared by every bench script: each builds its targets (URL, body, headers), this measures them in
one run, interleaved, and reports p50/p99/req/s plus the three ratios the targets are stated in
(added p50 at c=1, throughput against the baseline at c=32, p99 over p50 at c=32: issue 14).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import wrk

Target = tuple[str, str, dict[str, str]]
"""(url, body, headers)"""

CONCURRENCY = (1, 32)


def measure(targets: dict[str, Target], seconds: float) -> dict[str, dict[str, Any]]:
    for url, body, headers in targets.values():  # warm every target up first
        wrk.run(url, body, headers, connections=8, seconds=1)
    results: dict[str, dict[str, Any]] = {}
    for conns in CONCURRENCY:
        for name, (url, body, headers) in targets.items():
            result = wrk.run(url, body, headers, connections=conns, seconds=seconds)
            results[f"{name}@{conns}"] = result.__dict__
    return results


def summarise(results: dict[str, dict[str, Any]], names: list[str]) -> dict[str, Any]:
    base1, base32 = results["baseline@1"], results["baseline@32"]
    return {
        name: {
            "added_p50_ms_at_c1": round(results[f"{name}@1"]["p50_ms"] - base1["p50_ms"], 3),
            "throughput_ratio_at_c32": round(
                results[f"{name}@32"]["rps"] / max(base32["rps"], 1e-9), 3
            ),
            "p99_over_p50_at_c32": round(
                results[f"{name}@32"]["p99_ms"] / max(results[f"{name}@32"]["p50_ms"], 1e-9), 2
            ),
        }
        for name in names
    }


def report(title: str, results: dict[str, dict[str, Any]], *, as_json: bool) -> None:
    names = sorted({key.split("@")[0] for key in results} - {"baseline"})
    summary = summarise(results, names)
    if as_json:
        targets = {
            "added_p50_ms_at_c1": 1.0,
            "throughput_ratio_at_c32": 0.5,
            "p99_over_p50_at_c32": 4.0,
        }
        print(json.dumps({"summary": summary, "targets": targets, "runs": results}, indent=2))
        return
    table = Table(title=title)
    for col in ("run", "p50 ms", "p99 ms", "req/s", "requests", "errors"):
        table.add_column(col, justify="left" if col == "run" else "right")
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
    for name, s in summary.items():
        console.print(
            f"{name}: added p50 at c=1 [bold]{s['added_p50_ms_at_c1']:.3f} ms[/] (target <= 1)   "
            f"throughput vs baseline at c=32 [bold]{s['throughput_ratio_at_c32']:.2f}[/] "
            f"(target >= 0.5)   p99/p50 at c=32 [bold]{s['p99_over_p50_at_c32']:.1f}[/] "
            "(target <= 4)"
        )
