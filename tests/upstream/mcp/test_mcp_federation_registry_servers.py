"""Unmodified MCP servers from PyPI and npm, pinned (pyproject's test extra; node/package.json),
federated over stdio: `mcp-server-time`, `mcp-server-git` against a repository the test makes,
and `@modelcontextprotocol/server-filesystem` scoped to a temporary directory."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.upstream.mcp.support import VENV_BIN, execute, gateway, npm_servers
from toolwire.testing import RunningGateway

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("repo")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(path)}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, env=env)

    git("init", "-q", "-b", "main")
    (path / "README.md").write_text("federated\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "first commit through toolwire")
    (path / "README.md").write_text("federated, and changed\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files").resolve()
    (root / "hello.txt").write_text("hello from the scoped directory\n")
    return root


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, repo: Path, files: Path
) -> Iterator[RunningGateway]:
    bin_dir = npm_servers()
    mcp = {
        "clock": {"command": str(VENV_BIN / "mcp-server-time"), "price": 0.001},
        "git": {
            "command": str(VENV_BIN / "mcp-server-git"),
            "args": ["--repository", str(repo)],
            "include": ["git_*"],
            "exclude": ["git_commit", "git_reset", "git_create_branch", "git_checkout"],
        },
        "fs": {"command": str(bin_dir / "mcp-server-filesystem"), "args": [str(files)]},
    }
    with gateway(tmp_path_factory.mktemp("registry"), mcp) as running:
        yield running


def test_mcp_server_time(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=1)
    with gw.client(key) as http:
        now = execute(http, "clock.get_current_time", {"timezone": "Asia/Tokyo"})
        converted = execute(
            http,
            "clock.convert_time",
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Paris"},
        )
        bad = execute(http, "clock.get_current_time", {"timezone": "Not/AZone"})
    assert now["ok"], now
    assert now["data"]["structuredContent"]["timezone"] == "Asia/Tokyo"
    assert now["meta"]["credits_charged"] == 0.001
    assert converted["ok"], converted
    assert "13:00" in str(converted["data"]) or "14:00" in str(converted["data"])
    # the upstream's own error (isError or a JSON-RPC error) is the caller's UPSTREAM_ERROR
    assert bad["error"]["code"] == "UPSTREAM_ERROR"
    assert bad["meta"]["credits_charged"] == 0


def test_mcp_server_git_against_a_repository_the_test_made(gw: RunningGateway, repo: Path) -> None:
    _, key = gw.create_account(credits=1)
    with gw.client(key) as http:
        names = {t["name"] for t in http.get("/api/v1/tools").json()["tools"]}
        status = execute(http, "git.git_status", {"repo_path": str(repo)})
        log = execute(http, "git.git_log", {"repo_path": str(repo), "max_count": 5})
        diff = execute(http, "git.git_diff_unstaged", {"repo_path": str(repo)})
    assert "git.git_status" in names and "git.git_commit" not in names
    assert status["ok"], status
    assert "README.md" in status["data"]["content"][0]["text"]
    assert "first commit through toolwire" in log["data"]["content"][0]["text"]
    assert "federated, and changed" in diff["data"]["content"][0]["text"]


def test_server_filesystem_scoped_to_a_directory(gw: RunningGateway, files: Path) -> None:
    _, key = gw.create_account(credits=1)
    with gw.client(key) as http:
        read = execute(http, "fs.read_text_file", {"path": str(files / "hello.txt")})
        wrote = execute(
            http, "fs.write_file", {"path": str(files / "new.txt"), "content": "written"}
        )
        outside = execute(http, "fs.read_text_file", {"path": "/etc/hostname"})
    assert read["ok"], read
    assert "hello from the scoped directory" in read["data"]["content"][0]["text"]
    assert wrote["ok"], wrote
    assert (files / "new.txt").read_text() == "written"
    assert outside["error"]["code"] == "UPSTREAM_ERROR"  # the server refuses: outside its root
    assert outside["error"]["details"]["reason"] == "tool_error"  # its isError result, carried
    assert "not in" in str(outside["error"]["details"])
