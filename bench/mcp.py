"""MCP hot path: `tools/call` of a priced `echo` over `/mcp`, in the stateless 2026-07-28 era and
in a handshake-era (2025-11-25) session, against the same bare baseline as the REST bench.

    python -m bench.mcp [--seconds 5] [--price 0.001] [--json]

Targets as for REST: at most 1 ms added at p50 at concurrency 1; at least half the baseline's
throughput at concurrency 32.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.report import Target, measure, report
from bench.servers import baseline_server
from toolwire.testing import running_gateway

PRICE = 0.001
MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
ACCEPT = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
ARGS = {"name": "echo", "arguments": {"message": "hello"}}


def modern_target(url: str, key: str) -> Target:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            **ARGS,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        **ACCEPT,
        "Authorization": f"Bearer {key}",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "echo",
    }
    return (f"{url}/mcp", json.dumps(body), headers)


def handshake_target(url: str, key: str) -> Target:
    """Open a session once (initialize + initialized); every measured request reuses it."""
    auth = {**ACCEPT, "Authorization": f"Bearer {key}"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": HANDSHAKE,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    reply = httpx.post(f"{url}/mcp", json=init, headers=auth, timeout=10)
    reply.raise_for_status()
    session = reply.headers["mcp-session-id"]
    headers = {**auth, "Mcp-Session-Id": session, "MCP-Protocol-Version": HANDSHAKE}
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx.post(f"{url}/mcp", json=done, headers=headers, timeout=10).raise_for_status()
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ARGS}
    return (f"{url}/mcp", json.dumps(body), headers)


def run(seconds: float, price: float) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        baseline_server() as base,
        running_gateway(Path(tmp), config={"prices": {"echo": price}}) as gw,
    ):
        _, key = gw.create_account(credits=10_000_000)
        baseline_body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}})
        targets: dict[str, Target] = {
            "baseline": (f"{base}/echo", baseline_body, {"Content-Type": "application/json"}),
            "mcp-modern": modern_target(gw.url, key),
            "mcp-handshake": handshake_target(gw.url, key),
        }
        return measure(targets, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--price", type=float, default=PRICE, help="credits per echo (0: free)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(
        "MCP tools/call (echo) vs bare Starlette echo",
        run(args.seconds, args.price),
        as_json=args.json,
    )


if __name__ == "__main__":
    main()
