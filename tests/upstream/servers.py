"""Local upstreams for adapter tests: real HTTP servers on 127.0.0.1, on free ports.

`serving(app)` runs a Starlette app under uvicorn in a thread, on a socket bound and listening
before the thread starts, so a test can connect at once (no polling, no sleeps). The same servers
are used by in-process tests and by end-to-end tests whose gateway runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp


@dataclass
class Served:
    url: str
    port: int
    hits: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def serving(app: ASGIApp, port: int = 0, *, timeout_keep_alive: int = 5) -> Iterator[Served]:
    """Serve `app` on 127.0.0.1:`port` (0: a free one); an idle keep-alive connection is closed
    by the server after `timeout_keep_alive` seconds (uvicorn's default: 5)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=timeout_keep_alive,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
