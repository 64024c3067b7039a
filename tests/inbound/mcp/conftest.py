"""An in-process gateway (Starlette TestClient: the app's lifespan runs, no sockets) with the
`conformance` profile, and helpers to speak MCP to it over raw HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from toolwire.app import create_app
from toolwire.inbound.mcp.stdio import LocalConnection
from toolwire.settings import Settings

ADMIN_KEY = "tw_admin_in_process_test_key_0123456789"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


@dataclass
class Gateway:
    http: TestClient
    key: str
    other_key: str
    account_id: str

    def post(
        self,
        body: Any,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/mcp",
    ) -> httpx.Response:
        sent = {"authorization": f"Bearer {key or self.key}", "accept": ACCEPT}
        sent.update(headers or {})
        return self.http.post(path, json=body, headers=sent)

    def initialize(self, version: str = "2025-11-25", key: str | None = None) -> str:
        response = self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"},
                },
            },
            key=key,
        )
        assert response.status_code == 200, response.text
        session: str = response.headers["mcp-session-id"]
        return session

    def call(
        self,
        session: str,
        method: str,
        params: dict[str, Any] | None = None,
        rid: Any = 1,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body, key=key, headers={"mcp-session-id": session, **(headers or {})})

    def modern(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        rid: Any = 1,
        headers: dict[str, str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> httpx.Response:
        full = dict(params or {})
        full["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            **(meta or {}),
        }
        sent = {"mcp-protocol-version": MODERN, "mcp-method": method}
        name = full.get("name") if method == "tools/call" else None
        if isinstance(name, str):
            sent["mcp-name"] = name
        sent.update(headers or {})
        return self.post(
            {"jsonrpc": "2.0", "id": rid, "method": method, "params": full}, headers=sent
        )

    def stdio(self, lines: list[Any], version: str = "2025-11-25") -> list[Any]:
        """What `toolwire stdio --local` writes for an initialize line, then `lines` (sent once
        initialize is answered), until each is handled."""
        services = self.http.app.state.face  # type: ignore[attr-defined]
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
        init["params"] = {"protocolVersion": version, "capabilities": {}}
        written: list[Any] = []
        initialized = asyncio.Event()

        async def write(message: Any) -> None:
            written.append(message)
            initialized.set()

        async def run() -> None:
            principal = await services.auth.authenticate(self.key)
            reader = asyncio.StreamReader()
            reader.feed_data(orjson.dumps(init) + b"\n")
            connection = LocalConnection(services, principal, write)
            serving = asyncio.create_task(connection.serve(reader))
            await asyncio.wait_for(initialized.wait(), 5)  # the version is set
            reader.feed_data(b"".join(orjson.dumps(line) + b"\n" for line in lines))
            reader.feed_eof()
            await asyncio.wait_for(serving, 10)

        self.http.portal.call(run)  # type: ignore[union-attr]
        return written


def make_key(http: TestClient, credits: float, scopes: list[str]) -> tuple[str, str]:
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    account = http.post(
        "/admin/v1/accounts", json={"name": "mcp", "credits": credits}, headers=admin
    )
    account_id = account.json()["account"]["id"]
    key = http.post(
        f"/admin/v1/accounts/{account_id}/keys",
        json={"name": "mcp", "scopes": scopes},
        headers=admin,
    )
    return account_id, key.json()["secret"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data: Path = tmp_path_factory.mktemp("mcp-in-process")
    (data / "toolwire.yaml").write_text("prices:\n  echo: 0.5\n  test_wait: 1\n")
    settings = Settings(
        data_dir=data,
        admin_key=ADMIN_KEY,
        config=data / "toolwire.yaml",
        builtin_profiles=("conformance",),
        max_body_bytes=64 * 1024,
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as http:
        account_id, key = make_key(http, 10, ["*"])
        _, other = make_key(http, 10, ["echo", "calc.*"])
        yield Gateway(http, key, other, account_id)
