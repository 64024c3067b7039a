"""Start the processes a benchmark compares: the bare baseline and a real `toolwire serve`."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

from toolwire.testing import free_port

UVICORN_FLAGS = [
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
    "--no-server-header",
]


@contextlib.contextmanager
def baseline_server() -> Iterator[str]:
    """`bench.baseline:app` under uvicorn with the gateway's own server settings."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *UVICORN_FLAGS,
        ],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{url}/echo", content=b"{}", timeout=1)
                break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
