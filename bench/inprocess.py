"""In-process loop of the ASGI app with a fake transport: where a request's time goes, without
HTTP parsing or a socket. For profiling (cProfile) and for A/B of two checkouts:

    python bench/inprocess.py [--door rest|mcp] [--price 0.001] [--n 3000] [--profile FILE]
                              [--door-only]
    PYTHONPATH=/path/to/other/checkout python bench/inprocess.py ...   # the other side of an A/B

Runs by path (not `-m`) so that `PYTHONPATH` decides which `toolwire` it measures. Prints the
mean wall µs per request (sequential, concurrency 1), the CPU µs per request (every thread of
the process: what bounds throughput under load, and much less disturbed by other processes
than wall time), and with `--profile` writes a cProfile dump. `--door-only` answers every
measured call's `Gateway.execute` with the `Outcome` of the last warm-up call: what is left is the
door's own cost (headers, body, envelope, rendering, the answer), without the core, the ledger
or the audit writer, so two doors (REST, MCP) or two trees compare on that alone.
Figures from here are for comparing two runs on the same machine, never absolute targets.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # run by path: bench/ must not shadow packages (`limits`)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

try:  # the disconnect signal `toolwire serve` puts in each request's scope, where the tree has one
    from toolwire.inbound.disconnect import EXTENSION, DisconnectSignal

    SIGNAL: tuple[str, type[Any]] | None = (EXTENSION, DisconnectSignal)
except ImportError:  # an older checkout (A/B): its doors watch `receive` instead
    SIGNAL = None

REST_BODY = b'{"tool":"echo","input":{"message":"hello"}}'
MODERN = "2026-07-28"
MCP_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "echo",
            "arguments": {"message": "hello"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
).encode()


async def call(
    app: App, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request through the ASGI app: (status, body)."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode()), (b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    if SIGNAL is not None:  # as `toolwire serve`'s protocol gives every request
        scope["extensions"] = {SIGNAL[0]: {"signal": SIGNAL[1]()}}
    sent = False
    status = 0
    chunks: list[bytes] = []
    done = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return status, b"".join(chunks)


class Lifespan:
    """Drives the app's ASGI lifespan (startup on enter, shutdown on exit)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def __aenter__(self) -> Lifespan:
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {answer}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


def answer_with_last_outcome() -> Callable[[], None]:
    """From the second call on, `Gateway.execute` returns the first call's `Outcome` (returns
    the function that switches that on)."""
    from toolwire.core.gateway import Gateway

    execute = Gateway.execute
    kept: list[Any] = []

    async def keeping(self: Gateway, principal: Any, call: Any) -> Any:
        kept[:] = [await execute(self, principal, call)]
        return kept[0]

    async def kept_outcome(self: Gateway, principal: Any, call: Any) -> Any:
        return kept[0]

    Gateway.execute = keeping  # type: ignore[method-assign]

    def switch() -> None:
        Gateway.execute = kept_outcome  # type: ignore[method-assign]

    return switch


async def run(
    door: str, price: float, n: int, profile: str | None, door_only: bool = False
) -> dict[str, Any]:
    import logging

    from toolwire import logs
    from toolwire.app import create_app
    from toolwire.settings import Settings

    logs.configure("info", "json")
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    with tempfile.TemporaryDirectory() as tmp:
        admin_key = f"tw_admin_{secrets.token_hex(16)}"
        cfg = Path(tmp) / "toolwire.yaml"
        cfg.write_text(json.dumps({"prices": {"echo": price}}), encoding="utf-8")
        os.environ.update(
            TOOLWIRE_DATA_DIR=tmp, TOOLWIRE_CONFIG=str(cfg), TOOLWIRE_ADMIN_KEY=admin_key
        )
        app: App = create_app(Settings.from_env())
        async with Lifespan(app):
            admin = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}
            status, body = await call(
                app, "POST", "/admin/v1/accounts", b'{"name":"b","credits":10000000}', admin
            )
            account = json.loads(body)["account"]["id"]
            status, body = await call(
                app, "POST", f"/admin/v1/accounts/{account}/keys", b'{"name":"b"}', admin
            )
            key = json.loads(body)["secret"]
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            if door == "rest":
                path, body_ = "/api/v1/execute", REST_BODY
            else:
                path, body_ = "/mcp", MCP_BODY
                headers.update(
                    {
                        "Accept": "application/json, text/event-stream",
                        "MCP-Protocol-Version": MODERN,
                        "Mcp-Method": "tools/call",
                        "Mcp-Name": "echo",
                    }
                )
            only_door = answer_with_last_outcome() if door_only else None
            for _ in range(300):  # warm up
                status, out = await call(app, "POST", path, body_, headers)
            if status != 200:
                raise RuntimeError(f"{status}: {out[:300]!r}")
            if only_door is not None:
                only_door()
            prof = cProfile.Profile() if profile else None
            if prof:
                prof.enable()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                await call(app, "POST", path, body_, headers)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            if prof:
                prof.disable()
                prof.dump_stats(profile)
            await asyncio.sleep(0.3)  # let the batched writers drain before shutdown
    return {
        "door": door + (" (door only)" if door_only else ""),
        "price": price,
        "n": n,
        "us_per_request": round(elapsed / n * 1e6, 1),
        "cpu_us_per_request": round(cpu / n * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--door", choices=["rest", "mcp"], default="rest")
    parser.add_argument("--price", type=float, default=0.001)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--profile", default=None)
    parser.add_argument(
        "--door-only", action="store_true", help="Gateway.execute answered with a kept Outcome"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.door, args.price, args.n, args.profile, args.door_only))
    print(json.dumps(result), file=sys.stdout)


if __name__ == "__main__":
    main()
