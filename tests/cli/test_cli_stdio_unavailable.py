"""`toolwire stdio --local` started while its database refuses connections: it speaks MCP,
answers each request with the UNAVAILABLE error, and once the database is back (and the error's
`retry_after_s` has passed) it starts and serves the next request. Real PostgreSQL (skips
without it, fails under CI=true)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from tests.inbound.door_matrix.store_down import fresh_database, maintenance_dsn, unreachable
from toolwire.core.errors import Unavailable
from toolwire.inbound.mcp.jsonrpc import rule_for
from toolwire.testing import TOOLWIRE, start_gateway

INIT = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"},
}


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as portal:
        yield portal


def ask(process: subprocess.Popen[bytes], rid: int, method: str, params: Any) -> Any:
    """Send one request line; the answer line (bounded in time)."""
    assert process.stdin is not None and process.stdout is not None
    line = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    process.stdin.write(json.dumps(line).encode() + b"\n")
    process.stdin.flush()
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "stdio --local did not answer within 30 s"
    return json.loads(process.stdout.readline())


def test_stdio_local_answers_unavailable_until_the_store_is_back(
    tmp_path: Path, portal: BlockingPortal
) -> None:
    dsn = maintenance_dsn(portal)
    with fresh_database(portal, dsn) as url:
        env = {"TOOLWIRE_DATABASE_URL": url}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gateway = start_gateway(tmp_path / "gw", env=env)  # migrates, makes the key
        try:
            _, key = gateway.create_account(credits=5)
        finally:
            gateway.stop()
        process_env = {**os.environ, **env, "TOOLWIRE_API_KEY": key, "TOOLWIRE_LOG_LEVEL": "error"}
        args = [TOOLWIRE, "stdio", "--local", "--data-dir", str(tmp_path / "gw")]
        with unreachable(portal, dsn, url):
            process = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=process_env,
            )
            try:
                refused = ask(process, 1, "initialize", INIT)
            except BaseException:
                process.kill()
                process.wait(timeout=5)
                raise
        try:
            error = refused["error"]
            assert (refused["id"], error["code"]) == (1, rule_for(Unavailable).code)  # type: ignore[union-attr]
            assert error["data"]["code"] == "UNAVAILABLE"
            assert error["data"]["details"]["retry_after_s"] == Unavailable.retry_after_s
            time.sleep(Unavailable.retry_after_s)  # the next try waits this long, by design
            served = ask(process, 2, "initialize", INIT)
            assert served["id"] == 2 and "serverInfo" in served["result"], served
            listed = ask(process, 3, "tools/list", {})
            assert listed["result"]["tools"], listed
        finally:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.close()
            process.wait(timeout=15)
            process.stdout.close()
