"""Streamable HTTP upstreams: outbound auth from the vault, and an upstream in the handshake era
that forgets its sessions (restarted on the same port): the next call gets a 404, and toolwire
initialises a new session and sends the call again, so the caller sees nothing but its answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.upstream.mcp.support import FIXTURE, _wait_port, execute, gateway, upstreams
from toolwire.testing import free_port

pytestmark = pytest.mark.timeout(240)


def serve(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, str(FIXTURE), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process)
    return process


def test_an_http_session_the_upstream_forgot_is_initialised_again(tmp_path: Path) -> None:
    port = free_port()
    process = serve(port)
    try:
        mcp = {
            "remote": {
                "url": f"http://127.0.0.1:{port}/mcp",
                "era": "handshake",
                "allow_private_networks": True,
                "ping_interval": 0,
                "price": 0.1,
            }
        }
        with gateway(tmp_path / "gw", mcp) as gw:
            assert upstreams(gw)["remote"]["protocol_version"] == "2025-11-25"
            _, key = gw.create_account(credits=1)
            with gw.client(key) as http:
                first = execute(http, "remote.echo", {"text": "one"})
                process.terminate()
                process.wait(timeout=10)
                process = serve(port)  # a new process: the old session id is unknown (404)
                second = execute(http, "remote.echo", {"text": "two"})
                balance = http.get("/api/v1/me").json()["balance"]
            restarts = upstreams(gw)["remote"]["restarts"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert first["data"]["content"][0]["text"] == "one"
    assert second["ok"], second
    assert second["data"]["content"][0]["text"] == "two"
    assert balance == pytest.approx(0.8)  # both charged once
    assert restarts == 1


def test_a_bearer_token_from_the_vault_reaches_the_http_upstream_and_never_the_caller(
    tmp_path: Path,
) -> None:
    from toolwire.testing import TOOLWIRE

    canary = "bearer-canary-" + "7" * 20
    data = tmp_path / "gw"
    done = subprocess.run(
        [TOOLWIRE, "secrets", "set", "remote_token", "--data-dir", str(data)],
        input=canary + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    port = free_port()
    process = serve(port)
    try:
        mcp = {
            "remote": {
                "url": f"http://127.0.0.1:{port}/mcp",
                "auth": {"type": "bearer", "secret": "remote_token"},
                "allow_private_networks": True,
                "include": ["header"],
            }
        }
        with gateway(data, mcp) as gw:
            _, key = gw.create_account(credits=1)
            with gw.client(key) as http:
                seen = execute(http, "remote.header", {"name": "authorization"})
            logs = gw.logs()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert seen["ok"], seen
    text = seen["data"]["content"][0]["text"]
    assert text.startswith("Bearer ") and len(text) > len("Bearer ")  # it arrived ...
    assert canary not in str(seen) and canary not in logs  # ... and is scrubbed on the way back
