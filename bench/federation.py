"""Federation hot path: `tools/call` through toolwire to a federated Streamable HTTP upstream,
against the same upstream called directly, in one run, at concurrency 1 and 32.

    python -m bench.federation [--seconds 5] [--json]
    python -m bench.federation --client-cpu [--calls 2000]
    python -m bench.federation --gateway-cpu [--calls 400]
    python -m bench.federation --in-process [--calls 3200] [--concurrency 32] [--profile FILE]

`--client-cpu` measures in process, with no gateway, the CPU time one `tools/call` costs the
official SDK's client over its Streamable HTTP transport on httpx2's default transport, on
httpx2's own pool sized as toolwire's, and on toolwire's pool
(`upstream.mcp.http_pool.pooled_transport`: the lean HTTP/1.1 pool under httpx2), and over
toolwire's own transport (`upstream.mcp.streamable.StreamableHttp`, what the gateway uses),
sequentially and 32 at a time: CPU seconds of this process only (the upstream runs in its
own), the least of 3 interleaved rounds, so less sensitive to a shared machine than
throughput. `--gateway-cpu` reads the gateway process's own CPU (/proc) per sequential
federated call, least of 3 rounds. `--in-process` runs the gateway's ASGI app in this process
(no HTTP parsing) and reads its CPU per federated call, optionally under cProfile.

The upstream is tests/upstream/mcp/servers/fixture.py (the official SDK's MCPServer) serving
Streamable HTTP on 127.0.0.1, spoken to in the stateless 2026-07-28 era by both the bench and the
gateway (which keeps one pooled upstream session). "baseline" is the upstream's own `echo`;
"federated" is toolwire's `fx.echo` (free, so no ledger write: the federation cost alone) and
"federated-priced" the same at a price (reserve + settle). Target: federated throughput at
concurrency 32 at least 0.6x the direct upstream's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.report import Target, measure, report
from toolwire.testing import free_port, running_gateway

FIXTURE = Path(__file__).resolve().parents[1] / "tests/upstream/mcp/servers/fixture.py"
MODERN = "2026-07-28"


def modern_call(url: str, name: str, headers: dict[str, str] | None = None) -> Target:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": {"text": "hello"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    return (
        url,
        json.dumps(body),
        {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": "tools/call",
            "Mcp-Name": name,
            **(headers or {}),
        },
    )


@contextmanager
def upstream() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(FIXTURE), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def run(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, upstream() as url:
        mcp = {
            "fx": {"url": url, "allow_private_networks": True, "include": ["echo"]},
            "fxp": {
                "url": url,
                "allow_private_networks": True,
                "include": ["echo"],
                "price": 0.001,
            },
        }
        env = {"TOOLWIRE_UPSTREAM_START_WAIT_S": "60"}
        with running_gateway(Path(tmp), config={"mcp": mcp}, env=env, startup_timeout=120) as gw:
            ready = httpx.get(f"{gw.url}/readyz", timeout=10).json()
            assert all(u["state"] == "ready" for u in ready["upstreams"].values()), ready
            _, key = gw.create_account(credits=10_000_000)
            auth = {"Authorization": f"Bearer {key}"}
            targets: dict[str, Target] = {
                "baseline": modern_call(url, "echo"),
                "federated": modern_call(f"{gw.url}/mcp", "fx.echo", auth),
                "federated-priced": modern_call(f"{gw.url}/mcp", "fxp.echo", auth),
            }
            return measure(targets, seconds)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (/proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_cpu(calls: int, rounds: int = 3) -> float:
    """Milliseconds of the gateway's own CPU (/proc) per federated `tools/call` (free `fx.echo`),
    `calls` sequential calls per round after 50 to warm up, the least of `rounds` rounds."""
    with tempfile.TemporaryDirectory() as tmp, upstream() as url:
        mcp = {"fx": {"url": url, "allow_private_networks": True, "include": ["echo"]}}
        env = {"TOOLWIRE_UPSTREAM_START_WAIT_S": "60"}
        with running_gateway(Path(tmp), config={"mcp": mcp}, env=env, startup_timeout=120) as gw:
            _, key = gw.create_account(credits=10_000_000)
            target, body, headers = modern_call(
                f"{gw.url}/mcp", "fx.echo", {"Authorization": f"Bearer {key}"}
            )
            least = float("inf")
            with httpx.Client(timeout=30) as http:
                for count in [50] + [calls] * rounds:
                    started = _cpu_seconds(gw.process.pid)
                    for _ in range(count):
                        answer = http.post(target, content=body, headers=headers)
                        assert answer.status_code == 200 and '"isError":true' not in answer.text
                    if count == calls:
                        spent = _cpu_seconds(gw.process.pid) - started
                        least = min(least, spent / calls * 1000)
            return round(least, 3)


async def _client_cpu(url: str, transport: Any, calls: int, concurrency: int) -> float:
    """Milliseconds of this process's CPU per `tools/call` on one SDK client session: over the
    SDK's Streamable HTTP transport on `transport` (an httpx2 transport), or over toolwire's own
    (`streamable.StreamableHttp`) when `transport` is one."""
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    from toolwire.upstream.mcp.streamable import StreamableHttp

    async with contextlib.AsyncExitStack() as stack:
        if isinstance(transport, StreamableHttp):
            client = await stack.enter_async_context(Client(transport))
        else:
            http = await stack.enter_async_context(httpx2.AsyncClient(transport=transport))
            client = await stack.enter_async_context(
                Client(streamable_http_client(url, http_client=http))
            )
        for _ in range(20):
            await client.call_tool("echo", {"text": "warm"})

        async def worker(count: int) -> None:
            for _ in range(count):
                await client.call_tool("echo", {"text": "hello"})

        started = time.process_time()
        await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
        return (time.process_time() - started) / calls * 1000


def client_cpu(
    calls: int, rounds: int = 3, extra: dict[str, Callable[[], Any]] | None = None
) -> dict[str, float]:
    """`extra`: more transport makers to compare in the same rounds (a one-off experiment)."""
    import httpx2

    from toolwire.upstream.mcp.http_pool import (
        KEEPALIVE_EXPIRY_S,
        MAX_CONNECTIONS,
        lean_pool,
        pooled_transport,
    )
    from toolwire.upstream.mcp.streamable import StreamableHttp

    sized = httpx2.Limits(
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    makers: dict[str, Callable[[], Any]] = {
        "httpx2-default": lambda: httpx2.AsyncHTTPTransport(),
        "httpx2-pooled": lambda: httpx2.AsyncHTTPTransport(limits=sized),
        "lean": lambda: pooled_transport(allow_private_networks=True),
        "toolwire": lambda: StreamableHttp(url, lean_pool(allow_private_networks=True), {}),
        **(extra or {}),
    }
    figures: dict[str, float] = {}
    with upstream() as url:
        for _ in range(rounds):  # interleaved; the least counts (contention only adds)
            for name, make in makers.items():
                for conc in (1, 32):
                    ms = asyncio.run(_client_cpu(url, make(), calls, conc))
                    key = f"{name}@{conc}"
                    figures[key] = round(min(ms, figures.get(key, ms)), 3)
    return figures


async def _in_process(calls: int, concurrency: int, profile: str | None) -> dict[str, Any]:
    """The gateway's ASGI app in this process (driven as `bench/inprocess.py` does: no HTTP
    parsing, no socket), the fixture upstream in its own; `calls` federated `fx.echo` calls,
    `concurrency` at a time, after 200 to warm up: CPU and wall milliseconds per call, and with
    `profile` a cProfile dump (its clock `time.process_time`)."""
    import cProfile
    import logging
    import secrets

    from bench.inprocess import Lifespan, call
    from toolwire import logs
    from toolwire.app import create_app
    from toolwire.settings import Settings

    logs.configure("info", "json")
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    with tempfile.TemporaryDirectory() as tmp, upstream() as url:
        admin_key = f"tw_admin_{secrets.token_hex(16)}"
        config = Path(tmp) / "toolwire.yaml"
        entry = {"url": url, "allow_private_networks": True, "include": ["echo"]}
        config.write_text(json.dumps({"mcp": {"fx": entry}}), encoding="utf-8")
        os.environ.update(
            TOOLWIRE_DATA_DIR=tmp,
            TOOLWIRE_CONFIG=str(config),
            TOOLWIRE_ADMIN_KEY=admin_key,
            TOOLWIRE_UPSTREAM_START_WAIT_S="60",
        )
        app = create_app(Settings.from_env())
        async with Lifespan(app):
            admin = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}
            _, out = await call(
                app, "POST", "/admin/v1/accounts", b'{"name":"b","credits":10000000}', admin
            )
            account = json.loads(out)["account"]["id"]
            _, out = await call(
                app, "POST", f"/admin/v1/accounts/{account}/keys", b'{"name":"b"}', admin
            )
            target, body, headers = modern_call(
                "/mcp", "fx.echo", {"Authorization": f"Bearer {json.loads(out)['secret']}"}
            )

            async def worker(count: int) -> None:
                for _ in range(count):
                    status, answer = await call(app, "POST", target, body.encode(), headers)
                    assert status == 200 and b'"isError":false' in answer, answer[:300]

            await worker(200)
            profiler = cProfile.Profile(time.process_time) if profile else None
            if profiler is not None:
                profiler.enable()
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
    return {
        "calls": calls,
        "concurrency": concurrency,
        "cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "wall_ms_per_call": round(wall / calls * 1000, 3),
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--client-cpu", action="store_true")
    parser.add_argument("--gateway-cpu", action="store_true")
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    if args.in_process:
        figures = asyncio.run(_in_process(args.calls, args.concurrency, args.profile))
        print(json.dumps(figures, indent=2))
        return
    if args.gateway_cpu:
        ms = gateway_cpu(args.calls)
        print(json.dumps({"gateway_cpu_ms_per_call": ms, "load": os.getloadavg()}, indent=2))
        return
    if args.client_cpu:
        figures = client_cpu(args.calls)
        print(json.dumps({"client_cpu_ms_per_call": figures, "load": os.getloadavg()}, indent=2))
        return
    report(
        "tools/call through toolwire (federated) vs the upstream called directly",
        run(args.seconds),
        as_json=args.json,
    )


if __name__ == "__main__":
    main()
