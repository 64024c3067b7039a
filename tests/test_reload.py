"""Hot catalog reload (`toolwire.reload`) on real gateways started as users start them: the admin
API and `toolwire reload`, SIGHUP, the file watch, an invalid edit refused with its location, a
call in flight across a reload, and `notifications/tools/list_changed` to an official `mcp` SDK
session over Streamable HTTP, legacy SSE and `toolwire stdio --local`; the A2A card's skills.
The two-instance reload under load is in tests/e2e/test_reload_under_load.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ToolListChangedNotification

from toolwire import reload as reloading
from toolwire.settings import Settings
from toolwire.testing import TOOLWIRE, RunningGateway, start_gateway

SLOW_S = 1.5
"""How long the local upstream takes to answer `/slow`: a call held across a reload."""

BASE = """\
builtins:
  include: [{builtins}]
prices:
  echo: 0.01
upstreams:
  local:
    base_url: {url}
    allow_private_networks: true
tools:
  slowapi:
    description: {description}
    operations:
      get:
        upstream: local
        description: A slow answer.
        input_schema: {{type: object}}
        path: /slow
"""


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(SLOW_S)
        body = b'{"slow": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A real HTTP upstream on 127.0.0.1 that answers after `SLOW_S` seconds."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Path:
    path = tmp_path_factory.mktemp("reload-catalog") / "catalog.yaml"
    write(path, upstream)
    return path


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, catalog_file: Path
) -> Iterator[RunningGateway]:
    """One gateway for the module, without the file watch: each test triggers its reloads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gw = start_gateway(
            tmp_path_factory.mktemp("reload"),
            args=["--config", str(catalog_file)],
            env={"TOOLWIRE_RELOAD_POLL_S": "0"},
        )
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=100, name="reload")[1]


def write(
    path: Path,
    upstream: str,
    *,
    description: str = "Slow API v1.",
    builtins: str = "echo, calc",
    extra: str = "",
) -> None:
    """Write the catalog atomically (a rename), as editors and config tools do."""
    tmp = path.with_suffix(".tmp")
    text = BASE.format(url=upstream, description=description, builtins=builtins)
    tmp.write_text(text + extra)
    tmp.replace(path)


def tool_names(gateway: RunningGateway, key: str) -> set[str]:
    with gateway.client(key) as http:
        return {t["name"] for t in http.get("/api/v1/tools").json()["tools"]}


def skills(gateway: RunningGateway, key: str) -> set[str]:
    """The skill ids of the A2A agent card this key sees."""
    with gateway.client(key) as http:
        return {s["id"] for s in http.get("/.well-known/agent-card.json").json()["skills"]}


def version(gateway: RunningGateway) -> str:
    value: str = httpx.get(gateway.url + "/readyz", timeout=10).json()["catalog_version"]
    return value


def reload(gateway: RunningGateway) -> httpx.Response:
    with gateway.admin() as admin:
        return admin.post("/admin/v1/reload")


def test_the_admin_api_serves_an_edit_and_reports_the_version(
    gateway: RunningGateway, key: str, catalog_file: Path, upstream: str
) -> None:
    before = version(gateway)
    assert "uuid.generate" not in tool_names(gateway, key)
    assert "uuid" not in skills(gateway, key)
    write(catalog_file, upstream, builtins="echo, calc, uuid")
    answer = reload(gateway)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == "reloaded" and result["previous"] == before
    assert result["added"] == ["uuid.generate"] and result["removed"] == []
    assert version(gateway) == result["version"] != before
    assert "uuid.generate" in tool_names(gateway, key)
    assert "uuid" in skills(gateway, key)
    with gateway.client(key) as http:
        ran = http.post("/api/v1/execute", json={"tool": "uuid", "input": {}}).json()
    assert ran["ok"] is True and len(ran["data"]["uuids"]) == 1
    again = reload(gateway).json()
    assert again["status"] == "unchanged" and again["version"] == result["version"]
    with gateway.client(key) as http:  # not an admin key
        refused = http.post("/admin/v1/reload")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"


def test_an_invalid_edit_is_refused_with_its_location_and_the_old_catalog_stays(
    gateway: RunningGateway, key: str, catalog_file: Path, upstream: str
) -> None:
    write(catalog_file, upstream)
    assert reload(gateway).status_code == 200
    serving = version(gateway)
    write(catalog_file, upstream, extra="timeouts:\n  echo: -5\n")
    line = catalog_file.read_text().splitlines().index("  echo: -5") + 1
    answer = reload(gateway)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    details = error["details"]
    assert details["reason"] == "invalid_catalog" and details["version"] == serving
    assert details["file"] == str(catalog_file) and details["path"] == "timeouts/echo"
    assert details["line"] == line
    assert details["location"] == f"{catalog_file}:{line} (at timeouts/echo)"
    assert version(gateway) == serving
    with gateway.client(key) as http:
        still = http.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "hi"}})
    assert still.json()["ok"] is True
    assert "catalog reload (admin API) refused" in gateway.logs()

    catalog_file.write_text("builtins:\n  include: [echo\n")  # not YAML at all
    cli = subprocess.run(
        [TOOLWIRE, "reload", "--url", gateway.url, "--key", gateway.admin_key],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert cli.returncode == 1
    assert "the catalog was not reloaded" in cli.stderr and "not valid YAML" in cli.stderr
    assert f"at {catalog_file}:3" in cli.stderr, cli.stderr
    assert f"still serving catalog version {serving}" in cli.stderr
    assert version(gateway) == serving

    write(catalog_file, upstream, description="Slow API v2.")
    ok = subprocess.run(
        [TOOLWIRE, "reload", "--url", gateway.url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TOOLWIRE_ADMIN_KEY": gateway.admin_key},
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "reloaded"
    assert json.loads(ok.stdout)["previous"] == serving


def test_sighup_reloads_the_catalog(
    gateway: RunningGateway, key: str, catalog_file: Path, upstream: str
) -> None:
    write(catalog_file, upstream)
    assert reload(gateway).status_code == 200
    before = version(gateway)
    write(catalog_file, upstream, extra="timeouts:\n  calc: 7\n")
    gateway.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while version(gateway) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert version(gateway) != before
    assert gateway.process.poll() is None  # SIGHUP's default action would have ended it


async def test_a_call_in_flight_finishes_on_the_old_catalog_across_a_reload(
    gateway: RunningGateway, key: str, catalog_file: Path, upstream: str
) -> None:
    """The in-flight call holds the old upstream's pooled HTTP client: closing it at the swap
    would fail the call. It finishes, and the new catalog serves the next call."""
    write(catalog_file, upstream)
    assert reload(gateway).status_code == 200
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as http:
        body = {"tool": "slowapi.get", "input": {}}
        in_flight = asyncio.create_task(http.post("/api/v1/execute", json=body))
        await asyncio.sleep(SLOW_S / 3)  # the call has reached the upstream
        assert not in_flight.done()
        write(catalog_file, upstream, description="Slow API v3.")
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as admin:
            swapped = await admin.post(
                "/admin/v1/reload", headers={"Authorization": f"Bearer {gateway.admin_key}"}
            )
        assert swapped.json()["status"] == "reloaded"
        assert not in_flight.done()
        finished = (await in_flight).json()
        again = (await http.post("/api/v1/execute", json=body)).json()
    assert finished["ok"] is True and finished["data"] == {"slow": True}, finished
    assert again["ok"] is True


# -- the file watch, and MCP clients told of the change ------------------------------------------


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Path]]:
    """A gateway watching its catalog file every 0.2 s."""
    root = tmp_path_factory.mktemp("reload-watch")
    path = root / "catalog.yaml"
    path.write_text("builtins:\n  include: [echo]\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gw = start_gateway(
            root / "data", args=["--config", str(path)], env={"TOOLWIRE_RELOAD_POLL_S": "0.2"}
        )
    try:
        yield gw, path
    finally:
        gw.stop()


@asynccontextmanager
async def mcp_session(
    url: str, key: str, transport: str, changed: anyio.Event
) -> AsyncIterator[Client]:
    """An official `mcp` SDK client in the handshake era (`mode="legacy"`), over Streamable
    HTTP or the legacy HTTP+SSE transport; `changed` is set on `tools/list_changed`."""

    async def handler(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    auth = {"Authorization": f"Bearer {key}"}
    if transport == "sse":
        async with Client(
            sse_client(url + "/sse", headers=auth), mode="legacy", message_handler=handler
        ) as client:
            yield client
        return
    http = httpx2.AsyncClient(headers=auth, timeout=30)
    async with (
        http,
        Client(
            streamable_http_client(url + "/mcp", http_client=http),
            mode="legacy",
            message_handler=handler,
        ) as client,
    ):
        yield client


async def test_an_edited_file_is_served_and_mcp_sessions_are_told_the_list_changed(
    watched: tuple[RunningGateway, Path],
) -> None:
    gateway, path = watched
    _, key = gateway.create_account(credits=10, name="watch")
    on_http, on_sse = anyio.Event(), anyio.Event()
    with anyio.fail_after(60):
        async with (
            mcp_session(gateway.url, key, "streamable-http", on_http) as http_client,
            mcp_session(gateway.url, key, "sse", on_sse) as sse_client_,
        ):
            first = {t.name for t in (await http_client.list_tools()).tools}
            assert "uuid.generate" not in first
            for tool in ("uuid", "calc", "json"):  # a session's stream may open a bit later
                path.write_text(path.read_text().replace("]", f", {tool}]"))
                with anyio.move_on_after(5):
                    await on_http.wait()
                    await on_sse.wait()
                if on_http.is_set() and on_sse.is_set():
                    break
            assert on_http.is_set(), "no notifications/tools/list_changed over Streamable HTTP"
            assert on_sse.is_set(), "no notifications/tools/list_changed over legacy SSE"
            over_http = {t.name for t in (await http_client.list_tools()).tools}
            over_sse = {t.name for t in (await sse_client_.list_tools()).tools}
    assert "uuid.generate" in over_http and over_http == over_sse
    assert "catalog reloaded (file change)" in gateway.logs()


async def test_a_stdio_local_client_is_told_the_list_changed_when_the_file_is_edited(
    watched: tuple[RunningGateway, Path],
) -> None:
    gateway, path = watched
    _, key = gateway.create_account(credits=10, name="stdio")
    args = ["stdio", "--local", "--data-dir", str(gateway.data_dir), "--config", str(path)]
    env = {
        **os.environ,
        "TOOLWIRE_API_KEY": key,
        "TOOLWIRE_LOG_LEVEL": "warning",
        "TOOLWIRE_RELOAD_POLL_S": "0.2",
    }
    changed = anyio.Event()

    async def handler(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    params = StdioServerParameters(command=TOOLWIRE, args=args, env=env)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy", message_handler=handler) as client:
            before = {t.name for t in (await client.list_tools()).tools}
            added = next(t for t in ("time", "text", "json", "calc") if t not in path.read_text())
            path.write_text(path.read_text().replace("]", f", {added}]"))
            await changed.wait()
            after = {t.name for t in (await client.list_tools()).tools}
    new = after - before
    assert new and all(name.startswith(added) for name in new), (added, new)


def test_start_composes_the_catalog_once_and_versions_the_files_own_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prepare` compiled every operation twice (a static-only catalog for the version, then
    the full one); the version is now read off the one catalog, and is the same as before."""
    from toolwire import app
    from toolwire.core import catalog as catalog_module

    compiled: list[str] = []
    original = catalog_module._compile

    def counting(tool: Any, spec: Any) -> Any:
        compiled.append(f"{tool.name}.{spec.name}")
        return original(tool, spec)

    monkeypatch.setattr(catalog_module, "_compile", counting)
    prepared = app.prepare(Settings(data_dir=tmp_path))
    assert len(prepared.catalog) > 0
    assert len(compiled) == len(prepared.catalog)  # each operation compiled once
    static_only = catalog_module.Catalog(prepared.plan.static)  # what the version used to read
    assert prepared.version == reloading.catalog_version(
        reloading.load_config(None).digest, static_only, (t.name for t in prepared.plan.static)
    )
