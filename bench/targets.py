"""Issue 14's per-process targets, measured in one run and printed as a scoreboard.

    python -m bench.targets [--seconds 5] [--postgres postgresql://postgres@127.0.0.1:5432/test]
                            [--no-postgres] [--json FILE]

One process tree: a bare Starlette echo (the baseline), a gateway pricing `echo` and one serving
it free, measured interleaved at c=1 and c=32 (`bench.report.measure`); then the declarative HTTP
tool (`bench.http_tool`), idle RSS (`bench.rss`) and the billing step on PostgreSQL
(`bench.billing`). Each row is one target as the issue states it, what was measured, and whether
it is met. The load average before and after is printed: on a shared 2-core machine a figure
taken at a load above ~1.5 says more about the neighbours than about toolwire.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import billing, http_tool, mcp, rss
from bench.report import Target, measure
from bench.rest import BODY, JSON
from bench.servers import baseline_server
from toolwire.testing import running_gateway

PRICE = 0.001


@dataclass(frozen=True)
class Row:
    target: str
    measured: str
    met: bool


def _ratio(runs: dict[str, Any], name: str) -> float:
    return float(runs[f"{name}@32"]["rps"] / max(runs["baseline@32"]["rps"], 1e-9))


def _added(runs: dict[str, Any], name: str) -> float:
    return float(runs[f"{name}@1"]["p50_ms"] - runs["baseline@1"]["p50_ms"])


def _tail(runs: dict[str, Any], name: str) -> float:
    run = runs[f"{name}@32"]
    return float(run["p99_ms"] / max(run["p50_ms"], 1e-9))


def doors(seconds: float) -> dict[str, Any]:
    """Baseline, REST free, REST priced and MCP stateless priced, one interleaved run."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        baseline_server() as base,
        running_gateway(Path(tmp) / "priced", config={"prices": {"echo": PRICE}}) as priced,
        running_gateway(Path(tmp) / "free") as free,
    ):
        _, paid_key = priced.create_account(credits=10_000_000)
        _, free_key = free.create_account(credits=10_000_000)
        targets: dict[str, Target] = {
            "baseline": (f"{base}/echo", BODY, JSON),
            "rest-free": (
                f"{free.url}/api/v1/execute",
                BODY,
                {**JSON, "Authorization": f"Bearer {free_key}"},
            ),
            "rest-priced": (
                f"{priced.url}/api/v1/execute",
                BODY,
                {**JSON, "Authorization": f"Bearer {paid_key}"},
            ),
            "mcp-priced": mcp.modern_target(priced.url, paid_key),
        }
        return measure(targets, seconds)


def scoreboard(
    runs: dict[str, Any],
    http: dict[str, Any],
    memory: dict[str, float],
    postgres: dict[str, Any] | None,
) -> list[Row]:
    """The targets of issue 14 against the measurements (shapes as the bench modules return)."""
    rows = [
        Row("priced REST, c=32 throughput >= 0.5x bare echo",
            f"{_ratio(runs, 'rest-priced'):.2f}x", _ratio(runs, "rest-priced") >= 0.5),
        Row("priced REST, c=1 added p50 <= 0.3 ms",
            f"{_added(runs, 'rest-priced'):.3f} ms", _added(runs, "rest-priced") <= 0.3),
        Row("free REST, c=32 throughput >= 0.6x bare echo",
            f"{_ratio(runs, 'rest-free'):.2f}x", _ratio(runs, "rest-free") >= 0.6),
    ]  # fmt: skip
    mcp_vs_rest = _ratio(runs, "mcp-priced") / max(_ratio(runs, "rest-priced"), 1e-9)
    rows.append(
        Row("MCP stateless tools/call within 10% of REST (priced, c=32)",
            f"{mcp_vs_rest:.2f}x of REST", mcp_vs_rest >= 0.9)
    )  # fmt: skip
    for name in ("rest-free", "rest-priced", "mcp-priced"):
        tail = _tail(runs, name)
        p50, p99 = runs[f"{name}@32"]["p50_ms"], runs[f"{name}@32"]["p99_ms"]
        rows.append(
            Row(f"{name}: p99 <= 4x p50 at c=32",
                f"{tail:.1f}x ({p50:.1f} / {p99:.1f} ms)", tail <= 4.0)
        )  # fmt: skip
    h = http_tool.summary(http)
    rows += [
        Row("HTTP tool: gateway CPU per call <= 0.5 ms (c=32)",
            f"{h['http_cpu_ms']:.3f} ms", h["http_cpu_ms"] <= 0.5),
        Row("HTTP tool: <= 2.5x a built-in call's CPU",
            f"{h['cpu_ratio']:.2f}x (built-in {h['builtin_cpu_ms']:.3f} ms)",
            h["cpu_ratio"] <= 2.5),
        Row("HTTP tool: c=32 throughput >= c=1",
            f"{h['http_c32_over_c1']:.2f}x", h["http_c32_over_c1"] >= 1.0),
        Row("idle RSS of one process <= 100 MB",
            f"{memory['idle_rss_mb']:.1f} MB", memory["idle_rss_mb"] <= 100.0),
    ]  # fmt: skip
    if postgres is not None:
        s = billing.summary(postgres)
        rows += [
            Row("PostgreSQL: priced adds <= 1 ms at p50, c=1",
                f"{s['added_p50_ms_at_c1']:.3f} ms", s["added_p50_ms_at_c1"] <= 1.0),
            Row("PostgreSQL: priced >= 0.8x free throughput, c=32",
                f"{s['throughput_ratio_at_c32']:.2f}x", s["throughput_ratio_at_c32"] >= 0.8),
        ]  # fmt: skip
    return rows


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--postgres", default=billing.DEFAULT_PG, help="maintenance DSN")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    console = Console()
    load_before = _load()
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("REST and MCP doors", lambda: doors(args.seconds)),
        ("declarative HTTP tool", lambda: http_tool.measure(args.seconds)),
        ("idle RSS", lambda: rss.run(2.0)),
    ]
    if not args.no_postgres:

        def on_postgres() -> dict[str, Any] | None:
            try:
                with billing.scratch_postgres(args.postgres) as url:
                    return billing.measure(args.seconds, url)
            except (OSError, ImportError) as exc:
                console.print(f"[yellow]PostgreSQL skipped: {exc}[/]")
                return None

        steps.append(("billing on PostgreSQL", on_postgres))
    figures: dict[str, Any] = {}
    with console.status("") as status:
        for title, step in steps:
            status.update(f"measuring: {title}")
            figures[title] = step()
    rows = scoreboard(
        figures["REST and MCP doors"],
        figures["declarative HTTP tool"],
        figures["idle RSS"],
        figures.get("billing on PostgreSQL"),
    )
    load_after = _load()
    table = Table(title=f"issue 14 targets, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for col in ("target", "measured", "met"):
        table.add_column(col)
    for row in rows:
        table.add_row(row.target, row.measured, "[green]yes[/]" if row.met else "[red]no[/]")
    console.print(table)
    console.print(f"load average before {load_before}, after {load_after}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"rows": [asdict(r) for r in rows], "load": [load_before, load_after],
                 "figures": figures},
                indent=2, default=str,
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()
