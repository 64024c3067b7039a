"""The app's own answers outside any door: a 405 names every method the path serves."""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from toolwire.app import create_app
from toolwire.settings import Settings


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("app")
    with TestClient(create_app(Settings(data_dir=data))) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/execute", "POST"),
        ("GET", "/api/v1/execute", "POST"),
        ("PUT", "/admin/v1/accounts", "GET, HEAD, POST"),  # two routes share the path
        ("POST", "/admin/v1/accounts/acc_1", "GET, HEAD, PATCH"),
        ("POST", "/admin/v1/keys/k_1/budget", "GET, HEAD, PUT"),
        ("GET", "/api/v1/me/byok/openai", "DELETE, PUT"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/openapi.json", "GET, HEAD"),
    ],
)
def test_a_405_carries_allow_with_every_method_of_the_path(
    http: TestClient, method: str, path: str, allow: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_shutdown_closes_the_a2a_handler_so_a_running_task_is_cancelled_and_audited(
    tmp_path: Path,
) -> None:
    """The lifespan builds the A2A door and closes it: a task still running at shutdown is
    cancelled while the store is open, so its call is released and audited, not lost."""
    config = tmp_path / "toolwire.yaml"
    config.write_text(
        "builtins:\n  modules: [tests.support.door_tools]\nprices:\n  matrix.wait: 2\n"
    )
    admin = {"Authorization": f"Bearer tw_admin_{secrets.token_hex(8)}"}
    data = tmp_path / "data"
    settings = Settings(data_dir=data, admin_key=admin["Authorization"][7:], config=config)
    with TestClient(create_app(settings)) as http:
        made = http.post("/admin/v1/accounts", json={"name": "a", "credits": 10}, headers=admin)
        account = made.json()["account"]["id"]
        made = http.post(
            f"/admin/v1/accounts/{account}/keys", json={"name": "k", "scopes": ["*"]}, headers=admin
        )
        caller = {"Authorization": f"Bearer {made.json()['secret']}", "A2A-Version": "1.0"}
        part = {"data": {"tool": "matrix", "operation": "wait", "input": {"seconds": 30}}}
        message = {"messageId": "m1", "role": "ROLE_USER", "parts": [part]}
        params = {"message": message, "configuration": {"returnImmediately": True}}
        body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}
        assert http.post("/a2a", json=body, headers=caller).json()["result"]["task"]["id"]
        deadline = time.monotonic() + 10
        while http.get("/api/v1/me", headers=caller).json()["balance"] != 8:  # reserved
            assert time.monotonic() < deadline, "the call never held its reservation"
            time.sleep(0.02)
    uri = f"file:{(data / 'toolwire.db').resolve()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        rows = db.execute("SELECT outcome FROM audit_events WHERE door = 'a2a'").fetchall()
    assert rows == [("CANCELLED",)]


IDLE_UNLOADED = (
    "a2a",
    "alembic",
    "asyncpg",
    "google.protobuf",
    "httpcore2",
    "jinja2",
    "jwt",
    "mcp",
    "sqlglot",
    "toolwire.upstream.http",
)
"""Packages an idle gateway (restarted on its data directory, no A2A call, no console page, no
OAuth, no SQL view, no MCP or HTTP upstream, SQLite) never loads: each costs megabytes
(docs/benchmarks.md)."""

_IDLE_SCRIPT = """
import sys
from starlette.testclient import TestClient
import toolwire.cli.serve  # what `toolwire serve` imports
from toolwire.app import create_app
from toolwire.settings import Settings
from pathlib import Path
with TestClient(create_app(Settings(data_dir=Path(sys.argv[1])))) as http:
    assert http.get("/healthz").status_code == 200
    assert http.post("/api/v1/execute", json={"tool": "echo"}).status_code == 401
print(",".join(sorted(name for name in sys.argv[2].split(",") if name in sys.modules)))
"""


def test_an_idle_gateway_does_not_load_the_packages_it_does_not_use(tmp_path: Path) -> None:
    """Lazy loading, checked where it is deterministic: `sys.modules` of a fresh interpreter
    that starts the app on an existing data directory (the first start creates the schema,
    with Alembic; a restart finds it at head and does not load Alembic)."""
    data = str(tmp_path / "data")
    names = ",".join(IDLE_UNLOADED)
    first = subprocess.run(
        [sys.executable, "-c", _IDLE_SCRIPT, data, names],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "alembic"  # the schema was created: that needs Alembic
    again = subprocess.run(
        [sys.executable, "-c", _IDLE_SCRIPT, data, names],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == ""
