"""A real nginx for tests: the Debian package, run as a non-daemon child on loopback.

`nginx_binary()` finds nginx, installing Debian's `nginx` package with apt when it is missing and
the tests run as root; otherwise the test is skipped with the reason (a failure under CI=true).
`render()` turns the deployment recipe (examples/deploy/nginx.conf) into a copy for a test:
127.0.0.1 and free ports, pid, logs and temp files in a tmp directory. Every substitution must
match, so a recipe that changes shape fails here instead of being tested in a stale form.
`Nginx` runs it (`nginx -g 'daemon off;'`) and stops it with SIGQUIT (graceful).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import workers

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "examples" / "deploy" / "nginx.conf"
APT_TIMEOUT_S = 600


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _find() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


def nginx_binary() -> str:
    """The nginx executable, installed from Debian's packages when missing (as root, with apt)."""
    found = _find()
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        _skip_or_fail("nginx is not installed and cannot be (needs apt-get and root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", "nginx"]
    with workers.install_lock("apt"):  # dpkg's own lock fails a second worker instead of waiting
        found = _find()
        if found is not None:
            return found
        outcome = subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT_S)
        if outcome.returncode != 0:  # an image without package lists: fetch them once
            subprocess.run([apt, "update"], env=env, capture_output=True, timeout=APT_TIMEOUT_S)
            outcome = subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT_S)
    found = _find()
    if found is None:
        tail = outcome.stderr.decode(errors="replace")[-400:]
        _skip_or_fail(f"apt-get install nginx failed ({outcome.returncode}): {tail}")
    assert found is not None
    return found


def _sub(pattern: str, replacement: str, text: str, *, count: int = 1) -> str:
    new, made = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert made == count, f"recipe changed shape: {pattern!r} matched {made} times, not {count}"
    return new


def render(
    prefix: Path,
    *,
    listen_port: int,
    upstream_ports: Sequence[int],
    extra_location: str = "",
    recipe: Path = RECIPE,
) -> Path:
    """A copy of the recipe under `prefix` for a test; returns its path.

    `extra_location`: directives added to the `location /` block (e.g. a response header naming
    the upstream that served, for tests to see the round-robin)."""
    text = recipe.read_text(encoding="utf-8")
    text = _sub(r"^pid .*;$", f"pid {prefix / 'nginx.pid'};", text)
    text = _sub(r"^error_log .*;$", f"error_log {prefix / 'error.log'} warn;", text)
    text = _sub(r"^worker_processes .*;$", "worker_processes 2;", text)
    temp = "\n".join(
        f"    {name}_temp_path {prefix / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = _sub(r"^http \{$", "http {\n" + temp, text)
    servers = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstream_ports
    )
    text = _sub(r"^        server 127\.0\.0\.1:87\d\d .*;\n", "", text, count=3)
    text = _sub(r"^        keepalive 64;$", servers + "\n        keepalive 64;", text)
    text = _sub(r"^        listen 8080;$", f"        listen 127.0.0.1:{listen_port};", text)
    if extra_location:
        text = _sub(r"^            proxy_pass http://toolwire;$", "\\g<0>\n" + extra_location, text)
    path = prefix / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def check(binary: str, conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a rendered copy."""
    return subprocess.run(
        [binary, "-t", "-p", str(conf.parent), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@dataclass
class Nginx:
    url: str
    process: subprocess.Popen[bytes]
    prefix: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def errors(self) -> str:
        log = self.prefix / "error.log"
        return log.read_text(errors="replace") if log.exists() else ""


def start(binary: str, conf: Path, listen_port: int) -> Nginx:
    """Run nginx in the foreground on `conf`; returns once it accepts connections."""
    proc = subprocess.Popen(
        [binary, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running = Nginx(f"http://127.0.0.1:{listen_port}", proc, conf.parent)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}: {running.errors()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", listen_port)) == 0:
                return running
        time.sleep(0.02)
    running.stop()
    raise RuntimeError(f"nginx did not listen within 20 s: {running.errors()}")
