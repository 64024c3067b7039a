"""The billing step's cost: `POST /api/v1/execute` of a priced `echo` (reserve, then settle, in
the ledger's group commit) against a free `echo` (no ledger write at all), two gateways started
the same way in the same run, at concurrency 1 and 32, on SQLite and on PostgreSQL.

    python -m bench.billing [--seconds 5] [--postgres postgresql://postgres@127.0.0.1:5432/test]
                            [--no-postgres] [--json]

PostgreSQL runs in a scratch database created through the given maintenance DSN and dropped
afterwards; it is skipped with a note when unreachable. Figures: added p50 (priced - free) at
c=1, and the throughput ratio priced/free at c=32.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import wrk
from toolwire.testing import running_gateway

BODY = '{"tool":"echo","input":{"message":"hello"}}'
PRICE = 0.001
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def scratch_postgres(maintenance: str) -> Iterator[str]:
    import asyncpg  # type: ignore[import-untyped]

    name = f"tw_bench_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(maintenance, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield maintenance.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def measure(seconds: float, database_url: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    env = {"TOOLWIRE_DATABASE_URL": database_url} if database_url else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_gateway(Path(tmp) / "free", env=env) as free,
        running_gateway(Path(tmp) / "priced", config={"prices": {"echo": PRICE}}, env=env) as paid,
    ):
        results.update(
            wrk.compare({"free": free, "priced": paid}, BODY, seconds=seconds, credits=10_000_000)
        )
    return results


def summary(results: dict[str, Any]) -> dict[str, float]:
    return {
        "added_p50_ms_at_c1": round(results["priced@1"]["p50_ms"] - results["free@1"]["p50_ms"], 3),
        "throughput_ratio_at_c32": round(
            results["priced@32"]["rps"] / max(results["free@32"]["rps"], 1e-9), 3
        ),
    }


def report(by_backend: dict[str, dict[str, Any]], notes: list[str], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"backends": by_backend, "notes": notes}, indent=2))
        return
    console = Console()
    for backend, data in by_backend.items():
        table = Table(title=f"priced echo vs free echo on {backend}")
        for col in ("run", "p50 ms", "p99 ms", "req/s", "requests", "errors"):
            table.add_column(col, justify="left" if col == "run" else "right")
        for name, r in data["runs"].items():
            table.add_row(name, f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}", f"{r['rps']:.0f}",
                          str(r["requests"]), str(r["errors"]))  # fmt: skip
        console.print(table)
        s = data["summary"]
        console.print(
            f"{backend}: billing adds [bold]{s['added_p50_ms_at_c1']:.3f} ms[/] at p50 (c=1); "
            f"priced/free throughput at c=32: [bold]{s['throughput_ratio_at_c32']:.2f}[/]"
        )
    for note in notes:
        console.print(f"[yellow]{note}[/]")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--postgres", default=DEFAULT_PG, help="maintenance DSN")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    by_backend: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    runs = measure(args.seconds, None)
    by_backend["sqlite"] = {"runs": runs, "summary": summary(runs)}
    if not args.no_postgres:
        try:
            with scratch_postgres(args.postgres) as url:
                runs = measure(args.seconds, url)
            by_backend["postgresql"] = {"runs": runs, "summary": summary(runs)}
        except (OSError, ImportError) as exc:
            notes.append(f"PostgreSQL skipped: {exc}")
    report(by_backend, notes, as_json=args.json)


if __name__ == "__main__":
    main()
