"""What the federation tests share: the pinned npm servers (installed with `npm ci` into
tests/upstream/mcp/node/node_modules, gitignored), a gateway started with an `mcp:` catalog and
waited on until its upstreams are ready, process counting under the gateway, and an unmodified
Node server run over Streamable HTTP on 127.0.0.1.

Without npm (or the registry), tests needing the npm servers skip with the reason, and fail
under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import workers
from toolwire.testing import RunningGateway, free_port, start_gateway

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
BIN = NODE_DIR / "node_modules" / ".bin"
EVERYTHING = BIN / "mcp-server-everything"
FILESYSTEM = BIN / "mcp-server-filesystem"
FIXTURE = HERE / "servers" / "fixture.py"
VENV_BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 90.0
STARTUP_TIMEOUT_S = 90.0
"""A gateway with MCP upstreams imports the `mcp` SDK at start: seconds on a loaded machine."""


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def npm_servers() -> Path:
    """The pinned npm MCP servers, installed once (npm ci) when missing."""
    if not EVERYTHING.exists() or not FILESYSTEM.exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            unavailable("node and npm are needed for the npm MCP servers")
        with workers.install_lock("npm-mcp-servers"):  # another worker may be installing them
            if EVERYTHING.exists() and FILESYSTEM.exists():
                return BIN
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=540,
                check=False,
            )
        if done.returncode != 0:
            unavailable(f"npm ci failed (registry unreachable?): {done.stderr[-500:]}")
    return BIN


def fixture_server(*args: str) -> dict[str, Any]:
    """An `mcp:` entry running tests/upstream/mcp/servers/fixture.py over stdio."""
    return {"command": sys.executable, "args": [str(FIXTURE), *args]}


def upstreams(gw: RunningGateway) -> dict[str, dict[str, Any]]:
    body = httpx.get(f"{gw.url}/readyz", timeout=10).json()
    found: dict[str, dict[str, Any]] = body.get("upstreams", {})
    return found


def wait_ready(gw: RunningGateway, names: list[str], timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = upstreams(gw)
        if all(states.get(n, {}).get("state") == "ready" and states[n]["tools"] for n in names):
            return
        time.sleep(0.1)
    raise AssertionError(f"upstreams not ready: {states}\n{gw.logs()[-4000:]}")


@contextmanager
def gateway(
    data_dir: Path,
    mcp: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    ready: list[str] | None = None,
    **config: Any,
) -> Iterator[RunningGateway]:
    """A gateway federating `mcp`, started without waiting for them, then waited on (all of
    them, or the `ready` ones)."""
    gw = start_gateway(
        data_dir,
        config={"mcp": dict(mcp), **config},
        env={"TOOLWIRE_UPSTREAM_START_WAIT_S": "0", **(env or {})},
        startup_timeout=STARTUP_TIMEOUT_S,
    )
    try:
        wait_ready(gw, list(mcp) if ready is None else ready)
        yield gw
    finally:
        gw.stop()


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every living process under `pid` (Linux /proc)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[1].split()[0]
        if state == "Z":
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        commands[int(entry.name)] = cmdline
    found: list[tuple[int, str]] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current:
                found.append((child, commands[child]))
                frontier.append(child)
    return found


def count_processes(gw: RunningGateway, marker: str) -> int:
    return sum(1 for _, cmd in descendants(gw.process.pid) if marker in cmd)


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise RuntimeError("the upstream server exited at start")
        time.sleep(0.1)
    raise RuntimeError("the upstream server did not listen within 60s")


@contextmanager
def fixture_over(
    transport: str, env: Mapping[str, str] | None = None, script: Path = FIXTURE
) -> Iterator[str]:
    """tests/upstream/mcp/servers/fixture.py (or `script`, another fixture server taking the
    same arguments) serving `http` (Streamable HTTP, yields its /mcp URL) or `sse` (legacy
    HTTP+SSE, yields its /sse URL) on 127.0.0.1, with `env` added to its environment."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), transport, str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, process)
        yield f"http://127.0.0.1:{port}/{'mcp' if transport == 'http' else 'sse'}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def everything_over_http() -> Iterator[str]:
    """server-everything (unmodified) serving Streamable HTTP on 127.0.0.1; yields its /mcp URL."""
    bin_dir = npm_servers()
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "NODE_OPTIONS": f"--require {HERE / 'bind_localhost.cjs'}",
    }
    process = subprocess.Popen(
        [str(bin_dir / "mcp-server-everything"), "streamableHttp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                raise RuntimeError("server-everything exited at start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def execute(http: httpx.Client, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    response = http.post("/api/v1/execute", json={"tool": tool, "input": dict(arguments)})
    body: dict[str, Any] = response.json()
    return body
