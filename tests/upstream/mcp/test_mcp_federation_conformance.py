"""The official MCP conformance suite (scripts/conformance-node, pinned) run against
`@modelcontextprotocol/server-everything` directly (Streamable HTTP) and against toolwire
federating the same server over stdio: every scenario that passes directly passes through
toolwire. The scenarios that cannot pass either way are listed with the reason in
docs/federation.md ("Conformance through toolwire")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import workers
from tests.upstream.mcp.support import everything_over_http, npm_servers, unavailable, wait_ready
from toolwire.testing import RunningGateway, start_gateway

pytestmark = pytest.mark.timeout(420)

NODE_DIR = Path(__file__).resolve().parents[3] / "scripts" / "conformance-node"
NODE = NODE_DIR / "node_modules" / ".bin" / "node"
SUITE = NODE_DIR / "node_modules" / "conformance-stable" / "dist" / "index.js"
SCENARIOS = [
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "json-schema-2020-12",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
]
"""Every server scenario of the stable suite except the transport ones about toolwire's own
door (SSE polling and streams, DNS rebinding), which scripts/conformance runs."""
CANNOT = {
    "tools-call-simple-text": "passes directly only vacuously: server-everything has no tool "
    "`test_simple_text` and answers the call with an isError result, which the scenario "
    "accepts; toolwire answers an unknown tool with the spec's -32602 error",
    "tools-call-error": "the same, for the missing tool `test_error_handling`",
    "resources-subscribe": "passes directly only vacuously: server-everything accepts a "
    "subscription to any URI, such as `test://watched-resource` it does not have; through "
    "toolwire resources are `toolwire://<server>/<uri>`, and a URI that names no federated "
    "resource is refused with -32002, as a read is (subscriptions themselves pass through: "
    "test_mcp_federation_subscribe.py)",
    "resources-unsubscribe": "the same, for unsubscribing `test://watched-resource`",
}
"""Scenarios that pass directly and cannot pass through toolwire, with the reason (the same
list is in docs/federation.md)."""


def run(scenario: str, url: str, out: Path) -> bool:
    target = out / scenario
    target.mkdir(parents=True, exist_ok=True)
    cmd = [str(NODE), str(SUITE), "server", "--url", url, "--scenario", scenario]
    env = {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [*cmd, "-o", str(target)], capture_output=True, text=True, timeout=180, env=env
    )
    (target / "output.txt").write_text(done.stdout + done.stderr)
    statuses = [
        check.get("status")
        for checks in target.rglob("checks.json")
        for check in json.loads(checks.read_text())
    ]
    return done.returncode == 0 and bool(statuses) and "FAILURE" not in statuses


def passing(scenarios: list[str], url: str, out: Path) -> set[str]:
    with ThreadPoolExecutor(4) as pool:
        results = pool.map(lambda s: (s, run(s, url, out)), scenarios)
        return {scenario for scenario, ok in results if ok}


@pytest.fixture(scope="module")
def suite() -> None:
    """The pinned suite, installed once (npm ci, as scripts/conformance does) when missing."""
    if SUITE.exists() and NODE.exists():
        return
    if shutil.which("npm") is None:
        unavailable("npm is needed to install the MCP conformance suite")
    with workers.install_lock("npm-conformance"):  # another worker may be installing it
        if SUITE.exists() and NODE.exists():
            return
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
    if done.returncode != 0:
        unavailable(f"npm ci of the conformance suite failed: {done.stderr[-500:]}")


@pytest.fixture(scope="module")
def through(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway federating server-everything (stdio) that serves the suite, which sends no
    headers, as the anonymous key (docs/design/mcp-conformance-auth.md)."""
    bin_dir = npm_servers()
    data = tmp_path_factory.mktemp("conformance")
    config = {"mcp": {"everything": {"command": str(bin_dir / "mcp-server-everything")}}}
    first = start_gateway(data, config=config, env={"TOOLWIRE_UPSTREAM_START_WAIT_S": "0"})
    try:
        _, key = first.create_account(credits=100, name="conformance")
    finally:
        first.stop()
    env = {"TOOLWIRE_MCP_ANONYMOUS_KEY": key, "TOOLWIRE_UPSTREAM_START_WAIT_S": "0"}
    gw = start_gateway(data, config=config, env=env, admin_key=first.admin_key, startup_timeout=90)
    try:
        wait_ready(gw, ["everything"])
        yield gw
    finally:
        gw.stop()


def test_every_scenario_passing_directly_passes_through_toolwire(
    suite: None, through: RunningGateway, tmp_path: Path
) -> None:
    with everything_over_http() as url:
        direct = passing(SCENARIOS, url, tmp_path / "direct")
    expected = sorted(direct - CANNOT.keys())
    federated = passing(expected, through.url + "/mcp", tmp_path / "through")
    print(f"direct: {sorted(direct)}\nthrough toolwire: {sorted(federated)}")
    assert len(expected) >= 6, f"too few scenarios passed directly: {sorted(direct)}"
    assert set(expected) == federated, f"fail through toolwire: {set(expected) - federated}"
