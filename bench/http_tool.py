"""The upstream path: a declarative HTTP tool (bearer credential, JSON body, JMESPath result)
calling a local echo server, against the same echo called directly and the built-in `echo` tool
of the same gateway, at concurrency 1 and 32, in one run, with the gateway's CPU per call.

    python -m bench.http_tool [--seconds 5] [--json]

Targets (issue 14): an HTTP tool call costs <= 0.5 ms of gateway CPU and <= 2.5x a built-in
call; its throughput at c=32 is at least its throughput at c=1. Gateway CPU per call is
(utime + stime) of the gateway process from /proc/<pid>/stat over the run, divided by the
requests wrk completed. The echo server is on 127.0.0.1, so the upstream is declared with
`allow_private_networks: true` (the SSRF guard's resolution is then not on the path; it is
measured in process by `tests/upstream/test_net.py`'s cache tests, not here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import wrk
from bench.servers import baseline_server
from toolwire.testing import TOOLWIRE, running_gateway

SECRET = "sk-bench-" + "7" * 24
HTTP_BODY = '{"tool":"http_echo","input":{"message":"hello"}}'
BUILTIN_BODY = '{"tool":"echo","input":{"message":"hello"}}'
DIRECT_BODY = '{"message":"hello"}'
JSON = {"Content-Type": "application/json"}
TICKS = os.sysconf("SC_CLK_TCK")


def catalog(base_url: str) -> dict[str, Any]:
    return {
        "upstreams": {
            "echo_api": {
                "base_url": base_url,
                "allow_private_networks": True,
                "auth": {"type": "bearer", "secret": "echo_api_key"},
                "timeout": 10,
            }
        },
        "tools": {
            "http_echo": {
                "description": "Echo a message through a local HTTP API.",
                "operations": {
                    "call": {
                        "upstream": "echo_api",
                        "description": "Echo the message back.",
                        "input_schema": {
                            "type": "object",
                            "properties": {"message": {"type": "string"}},
                            "required": ["message"],
                        },
                        "method": "POST",
                        "path": "/echo",
                        "body": "{message: message}",
                        "response": "{message: message}",
                    }
                },
            }
        },
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (proc(5): fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, baseline_server() as base:
        data = Path(tmp) / "gw"
        data.mkdir(mode=0o700)
        subprocess.run(
            [TOOLWIRE, "secrets", "set", "echo_api_key", "--data-dir", str(data)],
            input=SECRET + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        with running_gateway(data, config=catalog(base)) as gw:
            _, key = gw.create_account(credits=1_000_000)
            auth = {**JSON, "Authorization": f"Bearer {key}"}
            url = f"{gw.url}/api/v1/execute"
            targets = {
                "direct": (f"{base}/echo", DIRECT_BODY, JSON, None),
                "http_tool": (url, HTTP_BODY, auth, gw.process.pid),
                "builtin": (url, BUILTIN_BODY, auth, gw.process.pid),
            }
            for target, body, headers, _ in targets.values():  # warm up
                wrk.run(target, body, headers, connections=8, seconds=1)
            for conns in (1, 32):
                for name, (target, body, headers, pid) in targets.items():
                    before = cpu_seconds(pid) if pid else 0.0
                    run = wrk.run(target, body, headers, connections=conns, seconds=seconds)
                    row: dict[str, Any] = dict(run.__dict__)
                    if pid:
                        used = cpu_seconds(pid) - before
                        row["cpu_ms_per_call"] = 1000 * used / max(run.requests, 1)
                    results[f"{name}@{conns}"] = row
            logs = gw.logs()
    results["secret_in_logs"] = SECRET in logs
    return results


def summary(r: dict[str, Any]) -> dict[str, float]:
    return {
        "http_cpu_ms": round(r["http_tool@32"]["cpu_ms_per_call"], 3),
        "builtin_cpu_ms": round(r["builtin@32"]["cpu_ms_per_call"], 3),
        "cpu_ratio": round(
            r["http_tool@32"]["cpu_ms_per_call"] / max(r["builtin@32"]["cpu_ms_per_call"], 1e-9), 2
        ),
        "http_c32_over_c1": round(r["http_tool@32"]["rps"] / max(r["http_tool@1"]["rps"], 1e-9), 2),
        "http_vs_direct_c32": round(r["http_tool@32"]["rps"] / max(r["direct@32"]["rps"], 1e-9), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results = measure(args.seconds)
    s = summary(results)
    if args.json:
        print(json.dumps({"load": load, "runs": results, "summary": s}, indent=2))
        return
    console = Console()
    table = Table(title=f"HTTP tool vs direct echo vs built-in echo (load {load:.1f})")
    for col in ("run", "p50 ms", "p99 ms", "req/s", "CPU ms/call", "errors"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        cpu = f"{r['cpu_ms_per_call']:.3f}" if "cpu_ms_per_call" in r else "-"
        table.add_row(name, f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}", f"{r['rps']:.0f}", cpu,
                      str(r["errors"]))  # fmt: skip
    console.print(table)
    console.print(s)
    failed = [n for n, r in results.items() if isinstance(r, dict) and r["errors"]]
    if failed:
        console.print(f"[red]errors in {', '.join(failed)}: these figures measure failures[/]")
    if results["secret_in_logs"]:
        console.print("[red]the upstream secret appeared in the gateway log[/]")


if __name__ == "__main__":
    main()
