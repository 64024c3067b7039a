"""Start real gateways the way users do (`toolwire serve`), on free ports bound to 127.0.0.1.

A public test helper, part of the installed package on purpose: your own tests (and this
repository's suite and `bench/`) can run a real gateway with `start_gateway(tmp_dir, config={...})`
or the `running_gateway(...)` context manager, and drive it over HTTP. Nothing in the gateway
imports it. It starts `python -m toolwire serve` as a subprocess; `RunningGateway.stop()` ends it.

Used by every end-to-end test: a `RunningGateway` is a subprocess plus what a test needs to drive
it (its URL, the admin key, helpers to create accounts and keys through the admin API).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

TOOLWIRE = str(Path(sys.executable).with_name("toolwire"))
STARTUP_TIMEOUT_S = 90.0
"""How long `start_gateway` waits for `/healthz` by default, seconds: an interpreter importing
toolwire takes a few seconds alone, and far longer on a loaded machine running tests in parallel
(a bound, not a delay: a gateway that answers sooner is used at once)."""


PORTS_ENV = "TOOLWIRE_TEST_PORTS"
"""`<low>-<high>`: the ports `free_port` hands out (a parallel test run gives each worker its own
slice, below the kernel's ephemeral range, so one worker's port is never another's)."""

_next_in_slice: dict[str, int] = {}
_handing_out = threading.Lock()
"""Held while a port is chosen: gateways started side by side (threads) call `free_port` at
once, and without it two of them could read the same `_next_in_slice` and get the same port."""
_handed_out: deque[int] = deque(maxlen=64)
"""The ports this process handed out last: the kernel may pick a closed one again at once."""


def free_port() -> int:
    """A 127.0.0.1 TCP port nothing listens on now, and not one handed out lately in this
    process (thread-safe: callers at once never get the same port): the kernel's pick, or, when the
    `TOOLWIRE_TEST_PORTS` slice is set, the next bindable one of the slice (round-robin, from a
    random start so that child processes do not replay the parent's sequence). Raises
    `RuntimeError` when no port of the slice can be bound."""
    with _handing_out:
        port = _pick(os.environ.get(PORTS_ENV, ""))
        _handed_out.append(port)
        return port


def _pick(given: str) -> int:
    if not given:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                return port
    low, _, high = given.partition("-")
    first, last = int(low), int(high)
    size = last - first + 1
    start = _next_in_slice.get(given, secrets.randbelow(size))
    for step in range(size):
        port = first + (start + step) % size
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _next_in_slice[given] = (start + step + 1) % size
        return port
    raise RuntimeError(f"no free port in {PORTS_ENV}={given}")


@dataclass
class RunningGateway:
    url: str
    admin_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=30
        )

    def create_account(
        self, credits: float = 100, scopes: Sequence[str] = ("*",), name: str = "test"
    ) -> tuple[str, str]:
        """A new account with `credits` and one key with `scopes`: (account_id, raw key)."""
        with self.admin() as admin:
            account = admin.post("/admin/v1/accounts", json={"name": name, "credits": credits})
            account.raise_for_status()
            account_id = account.json()["account"]["id"]
            key = admin.post(
                f"/admin/v1/accounts/{account_id}/keys", json={"name": name, "scopes": list(scopes)}
            )
            key.raise_for_status()
            return account_id, key.json()["secret"]

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def kill(self) -> None:
        """`kill -9`: no shutdown hooks run."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def start_gateway(
    data_dir: Path,
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    admin_key: str | None = None,
    port: int | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> RunningGateway:
    """Start `toolwire serve` and wait until `/healthz` answers (at most `startup_timeout` s)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    port = port or free_port()
    admin_key = admin_key or f"tw_admin_{secrets.token_hex(16)}"
    cmd = [
        TOOLWIRE,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    if config is not None:
        cfg = data_dir / "toolwire.yaml"
        cfg.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
        cmd += ["--config", str(cfg)]
    cmd += list(args)
    full_env = {
        **os.environ,
        "TOOLWIRE_ADMIN_KEY": admin_key,
        "TOOLWIRE_LOG_FORMAT": "json",
        **(env or {}),
    }
    log_path = data_dir / f"gateway-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    gw = RunningGateway(
        f"http://127.0.0.1:{port}", admin_key, data_dir, process, log_path, full_env
    )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{gw.logs()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{gw.url}/healthz", timeout=1).status_code == 200:
                return gw
        time.sleep(0.05)
    gw.kill()
    raise RuntimeError(f"gateway did not start within {startup_timeout}s:\n{gw.logs()}")


@contextlib.contextmanager
def running_gateway(data_dir: Path, **kwargs: Any) -> Iterator[RunningGateway]:
    gw = start_gateway(data_dir, **kwargs)
    try:
        yield gw
    finally:
        gw.stop()
