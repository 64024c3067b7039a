"""Adapters end to end, the way an operator uses them: `toolwire secrets set` on the command line,
a catalog that includes a provider spec, `toolwire serve`, a REST call, and the gateway's own log
file checked for the secret. Plus `toolwire secrets list|delete` and `toolwire openapi inspect`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.upstream import contracts
from tests.upstream.servers import serving
from toolwire.testing import TOOLWIRE, running_gateway

CANARY = "tvly-canary-51c0ffee9d"
REPO = Path(__file__).resolve().parents[2]


def toolwire(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLWIRE_")}
    return subprocess.run(
        [TOOLWIRE, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def test_a_secret_set_on_the_command_line_reaches_the_provider_and_nothing_else(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    created = toolwire(
        "secrets", "set", "tavily_api_key", "--data-dir", str(data), stdin=CANARY + "\n"
    )
    assert created.returncode == 0, created.stderr
    listed = toolwire("secrets", "list", "--data-dir", str(data), "--json")
    assert [s["name"] for s in json.loads(listed.stdout)["secrets"]] == ["tavily_api_key"]
    assert CANARY not in listed.stdout + created.stdout + created.stderr
    hits: list[dict[str, Any]] = []
    with serving(contracts.tavily(CANARY, hits)) as served:
        config = {
            "include": [str(REPO / "examples/providers/tavily.yaml")],
            "upstreams": {"tavily": {"base_url": served.url, "allow_private_networks": True}},
            "prices": {"search": 0.5},
        }
        with running_gateway(data, config=config) as gw:
            _, key = gw.create_account(credits=10)
            with gw.client(key) as http:
                ok = http.post(
                    "/api/v1/execute", json={"tool": "search.web", "input": {"query": "mcp"}}
                )
                fail = http.post(
                    "/api/v1/execute", json={"tool": "search.web", "input": {"query": ""}}
                )
            logs = gw.logs()
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert [r["title"] for r in body["data"]["results"]] == [p["title"] for p in contracts.PAGES]
    assert body["meta"]["credits_charged"] == 0.5
    assert fail.json()["error"]["code"] == "INVALID_ARGUMENTS"
    assert hits[0]["headers"]["authorization"] == f"Bearer {CANARY}"
    assert CANARY not in ok.text + fail.text + logs
    deleted = toolwire("secrets", "delete", "tavily_api_key", "--data-dir", str(data))
    assert deleted.returncode == 0
    assert toolwire("secrets", "delete", "tavily_api_key", "--data-dir", str(data)).returncode == 1


def test_openapi_inspect_shows_what_is_exposed_and_why_the_rest_is_hidden() -> None:
    spec = str(REPO / "tests/upstream/fixtures/petstore.yaml")
    table = toolwire("openapi", "inspect", spec)
    assert table.returncode == 0, table.stderr
    assert "POST changes state" in table.stdout and "deprecated" in table.stdout
    as_json = json.loads(
        toolwire("openapi", "inspect", spec, "--allow-method", "POST", "--json").stdout
    )
    exposed = {o["operation_id"]: o["exposed"] for o in as_json["operations"]}
    assert exposed["createPet"] is True and exposed["deletePet"] is False
    assert (as_json["exposed"], as_json["hidden"]) == (5, 3)  # get_legacy: its cookie is sent
    broken = toolwire("openapi", "inspect", str(REPO / "pyproject.toml"))
    assert broken.returncode == 1
