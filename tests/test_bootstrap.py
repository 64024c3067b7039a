"""The data directory and the files holding secrets are private to the gateway's user, whatever
the umask (issue 8, item 15: `toolwire.db` was created 0644)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolwire.bootstrap import load_secret, prepare_data_dir
from toolwire.settings import Settings
from toolwire.testing import running_gateway


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_a_started_gateway_keeps_its_directory_and_secret_files_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    data.parent.mkdir()
    with running_gateway(data) as gw:
        _, key = gw.create_account(credits=1)
        with gw.client(key) as http:
            assert http.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "x"}})
    assert mode(data) == 0o700
    secret_files = [data / "secret.key", *data.glob("toolwire.db*")]
    assert len(secret_files) >= 2
    assert {p.name: mode(p) for p in secret_files} == {p.name: 0o600 for p in secret_files}


@pytest.mark.usefixtures("loose_umask")
def test_files_of_ours_found_readable_are_tightened_and_a_loose_directory_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for name in ("toolwire.db", "toolwire.db-wal", "secret.key"):
        (data / name).write_text("x" * 40 if name == "secret.key" else "")
        (data / name).chmod(0o644)
    settings = Settings(data_dir=data)
    with caplog.at_level(logging.WARNING, logger="toolwire.bootstrap"):
        prepare_data_dir(settings)
        load_secret(settings)
    assert {p.name: mode(p) for p in data.iterdir()} == {
        "toolwire.db": 0o600,
        "toolwire.db-wal": 0o600,
        "secret.key": 0o600,
    }
    assert "readable by other users" in caplog.text


@pytest.mark.usefixtures("loose_umask")
def test_with_an_external_database_only_the_directory_is_made(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "pg", database_url="postgresql://x@127.0.0.1/x")
    prepare_data_dir(settings)
    load_secret(settings)
    assert mode(settings.data_dir) == 0o700
    assert [p.name for p in settings.data_dir.iterdir()] == ["secret.key"]
    assert mode(settings.data_dir / "secret.key") == 0o600
