"""Headless Chromium for browser tests: Debian's `chromium` package driven by Python
`playwright`, which never downloads a browser of its own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD).

`chromium_path()` installs the package with apt-get when it is missing and we are root (as
sdk/typescript/scripts/test.mjs does), and otherwise skips with the reason, or fails under
CI=true. `axe_violations(page)` runs the vendored axe-core (tests/support/vendor/axe-core) in
the page and returns its serious and critical WCAG 2 A/AA violations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import workers

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")

os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium binary to drive; installs Debian's package when root and missing."""
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        with workers.install_lock("apt"):  # dpkg's own lock fails a second worker
            try:
                if not CHROMIUM.exists():
                    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600, **quiet)
                    install = ["apt-get", "install", "-y", "-qq", "chromium"]
                    subprocess.run(install, check=True, timeout=900, **quiet)
            except (subprocess.SubprocessError, OSError) as exc:
                _unavailable(f"could not install Debian's chromium: {exc}")
    if not CHROMIUM.exists():
        _unavailable(f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the Python package playwright is not installed (pip install -e '.[test]')")
    return str(CHROMIUM)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of WCAG 2 A and AA on the page as it is."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated, so the page's CSP holds
    result: dict[str, Any] = page.evaluate(
        """async () => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v.get("impact") in SERIOUS
    ]
