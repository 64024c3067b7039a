"""A/B of two checkouts on the hot-path benchmarks, interleaved in one process tree.

    python -m bench.ab --old /path/to/other/checkout [--rounds 2] [--seconds 3] [--json]

Each round runs, for the other checkout and then this one, `bench.rest` (priced),
`bench.rest --price 0` and `bench.mcp` (priced), each with that checkout's own `.venv` and
code (its working directory), and each against the bare Starlette echo of its own run: the
figures compared are the ratios and added latencies, never absolute times (these machines are
shared and noisy). The 1-minute load average is printed before each run; compare rounds taken at
similar loads. Each checkout needs `.venv` with the `bench` extra and `wrk` on the PATH.

Issue 10's "no worse than before" is read off this table (docs/benchmarks.md), and issue 14's
"p99 at c=32 no more than 4x p50" off its last column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent.parent
RUNS: dict[str, list[str]] = {
    "REST priced": ["bench.rest"],
    "REST free": ["bench.rest", "--price", "0"],
    "MCP priced": ["bench.mcp"],
}


def one(tree: Path, args: list[str], seconds: float) -> dict[str, Any]:
    """One benchmark module run in `tree` (its venv, its code); its JSON summary, with the
    p99/p50 ratio at c=32 worked out from the runs where that tree's summary lacks it."""
    python = tree / ".venv" / "bin" / "python"
    command = [str(python), "-m", *args, "--seconds", str(seconds), "--json"]
    done = subprocess.run(
        command, cwd=tree, capture_output=True, text=True, timeout=600, check=True
    )
    figures = json.loads(done.stdout)
    summary: dict[str, Any] = figures["summary"]
    for door, door_figures in summary.items():
        c32 = figures["runs"][f"{door}@32"]
        door_figures.setdefault(
            "p99_over_p50_at_c32", round(c32["p99_ms"] / max(c32["p50_ms"], 1e-9), 2)
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "this": HERE}
    rows: list[dict[str, Any]] = []
    console = Console(stderr=True)
    for round_ in range(1, args.rounds + 1):
        for side, tree in trees.items():
            for name, bench in RUNS.items():
                load = os.getloadavg()[0]
                with console.status(f"round {round_}: {side} {name} (load {load:.2f})"):
                    summary = one(tree, bench, args.seconds)
                for door, figures in summary.items():
                    rows.append(
                        {"round": round_, "side": side, "run": name, "door": door, "load": load}
                        | figures
                    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"A/B: old = {trees['old']}, this = {trees['this']}")
    columns = (
        "run",
        "door",
        "round",
        "side",
        "load",
        "c=32 ratio",
        "added p50 c=1 ms",
        "c=32 p99/p50",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in {"run", "door", "side"} else "right")
    for row in sorted(rows, key=lambda r: (r["run"], r["door"], r["round"], r["side"])):
        table.add_row(
            row["run"],
            row["door"],
            str(row["round"]),
            row["side"],
            f"{row['load']:.2f}",
            f"{row['throughput_ratio_at_c32']:.3f}",
            f"{row['added_p50_ms_at_c1']:.3f}",
            f"{row['p99_over_p50_at_c32']:.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
