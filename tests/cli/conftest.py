"""Drive the real `toolwire` executable in a subprocess, the way an operator types it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolwire.testing import TOOLWIRE


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Ran]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any TOOLWIRE_* setting of the person running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLWIRE_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1"}, **extra)
    return env


def run_toolwire(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Ran:
    done = subprocess.run(
        [TOOLWIRE, *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        input=stdin,
        timeout=60,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tw(data_dir: Path) -> Run:
    """`tw("accounts", "list")` runs `toolwire accounts list` on a temporary data directory."""
    env = clean_env(TOOLWIRE_DATA_DIR=str(data_dir))

    def run(*args: str, stdin: str | None = None) -> Ran:
        return run_toolwire(*args, env=env, stdin=stdin)

    return run
