"""A federated server's tool change that lands while a reload is between composing its catalog and
swapping it in is kept (toolwire/reload.py): the reload composes again instead of swapping in the
catalog it composed before its awaits, which would drop the new tool until the next change.

In process (the app under Starlette's TestClient) with the fixture MCP server over stdio: the
window is held open at the reload's real await (closing the new plan's never-started twin of the
unchanged `fx` source) while the test calls `fx.grow`, which adds `fx.added` upstream."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from starlette.testclient import TestClient

from tests.upstream.mcp.support import fixture_server
from toolwire.app import create_app
from toolwire.config import sources
from toolwire.core.ports import OperationSource
from toolwire.services import Services
from toolwire.settings import Settings

pytestmark = pytest.mark.timeout(120)

ADMIN_KEY = "tw-admin-reload-window-0123456789abcdef"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


def names(services: Services) -> set[str]:
    return {op.qualified for op in services.gateway.catalog}


def test_a_tool_added_upstream_during_a_reload_is_served_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "toolwire.yaml"
    catalog: dict[str, Any] = {"prices": {"echo": 0.5}, "mcp": {"fx": fixture_server()}}
    config.write_text(yaml.safe_dump(catalog))
    settings = Settings(
        data_dir=tmp_path,
        admin_key=ADMIN_KEY,
        config=config,
        builtin_profiles=("conformance",),
        reload_poll_s=0,
    )
    in_window = threading.Event()
    grown = threading.Event()
    real_close_all = sources.close_all

    async def close_all_after_a_change(closing: Sequence[OperationSource]) -> None:
        # the reload's await between its composition and its swap: let `fx` change meanwhile
        if closing and not in_window.is_set():
            in_window.set()
            deadline = time.monotonic() + 30
            while not grown.is_set() or "fx.added" not in names(services):
                assert time.monotonic() < deadline, "fx.added was never swapped in"
                await anyio.sleep(0.05)
        await real_close_all(closing)

    monkeypatch.setattr(sources, "close_all", close_all_after_a_change)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as http:
        services: Services = http.app.state.services  # type: ignore[attr-defined]
        account = http.post("/admin/v1/accounts", json={"name": "t", "credits": 10}, headers=ADMIN)
        keyed = http.post(
            f"/admin/v1/accounts/{account.json()['account']['id']}/keys",
            json={"name": "t", "scopes": ["*"]},
            headers=ADMIN,
        )
        agent = {"authorization": f"Bearer {keyed.json()['secret']}"}
        deadline = time.monotonic() + 60
        while "fx.grow" not in names(services):  # first discovery
            assert time.monotonic() < deadline, "fx never listed its tools"
            time.sleep(0.1)

        catalog["prices"]["echo"] = 0.75  # a change of the file's own tools: a real reload
        config.write_text(yaml.safe_dump(catalog))
        answer: dict[str, Any] = {}

        def reload() -> None:
            answer["response"] = http.post("/admin/v1/reload", headers=ADMIN)

        reloading = threading.Thread(target=reload)
        reloading.start()
        assert in_window.wait(60), "the reload never reached its await"
        grow = http.post("/api/v1/execute", json={"tool": "fx.grow", "input": {}}, headers=agent)
        assert grow.status_code == 200, grow.text
        grown.set()
        reloading.join(60)

        assert answer["response"].status_code == 200, answer["response"].text
        assert answer["response"].json()["status"] == "reloaded"
        assert "fx.added" in names(services)  # not the catalog composed before the change
        listed = http.get("/api/v1/tools", headers=agent).text
        assert "fx.added" in listed or "fx__added" in listed
        added = http.post("/api/v1/execute", json={"tool": "fx.added", "input": {}}, headers=agent)
        assert added.status_code == 200, added.text
