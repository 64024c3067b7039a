"""A private `redis-server` on a free 127.0.0.1 port, which a test may stop and start again on the
same port (the shared Redis at 6379 is never stopped). Skips when `redis-server` is not
installed; fails instead when CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from toolwire.testing import free_port

START_TIMEOUT_S = 10.0


class PrivateRedis:
    """One redis-server process (no persistence) that can be stopped and started again."""

    def __init__(self, directory: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        self.server = server
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
