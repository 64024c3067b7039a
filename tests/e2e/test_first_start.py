"""First start: keys are created and shown once, the secret is private, and the demo key works."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx

from toolwire.testing import running_gateway

KEY = re.compile(r"(admin|demo) key\s+(tw_[a-z0-9]+_[a-z0-9]+)")


def shown_keys(logs: str) -> dict[str, str]:
    return {kind: key for kind, key in KEY.findall(logs)}


def test_the_first_start_shows_working_keys_once_and_never_again(tmp_path: Path) -> None:
    no_admin_env = {"TOOLWIRE_ADMIN_KEY": ""}
    with running_gateway(tmp_path, env=no_admin_env) as gw:
        keys = shown_keys(gw.logs())
        assert set(keys) == {"admin", "demo"}
        reply = httpx.post(
            f"{gw.url}/api/v1/execute",
            json={"tool": "echo", "input": {"message": "hello"}},
            headers={"Authorization": f"Bearer {keys['demo']}"},
        )
        assert reply.status_code == 200
        assert reply.json()["meta"]["balance"] == 100
        admin = httpx.get(
            f"{gw.url}/admin/v1/accounts", headers={"Authorization": f"Bearer {keys['admin']}"}
        )
        assert admin.status_code == 200
        demo_as_admin = httpx.get(
            f"{gw.url}/admin/v1/accounts", headers={"Authorization": f"Bearer {keys['demo']}"}
        )
        assert demo_as_admin.status_code == 403
        assert "curl" in gw.logs()
        assert "mcpServers" in gw.logs()
    secret = tmp_path / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    first_secret = secret.read_text()
    for log in tmp_path.glob("gateway-*.log"):
        log.unlink()
    with running_gateway(tmp_path, env=no_admin_env) as gw:
        assert shown_keys(gw.logs()) == {}
        reply = httpx.get(
            f"{gw.url}/api/v1/me", headers={"Authorization": f"Bearer {keys['demo']}"}
        )
        assert reply.status_code == 200
    assert secret.read_text() == first_secret


def test_an_operator_admin_key_is_used_and_not_printed(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as gw:
        assert set(shown_keys(gw.logs())) == {"demo"}
        assert gw.admin_key not in gw.logs()
        with gw.admin() as admin:
            assert admin.get("/admin/v1/accounts").status_code == 200
