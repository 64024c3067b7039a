"""The browser the console's browser tests share: headless Chromium from Debian's `chromium`
package, driven by Python `playwright` (no downloaded browser), one per module; and a page per
test that fails the test on any script error or CSP refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.chromium import ARGS, chromium_path

LAPTOP = {"width": 1280, "height": 800}
EXPECTED_STATUS = "Failed to load resource: the server responded with a status of 4"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield opened
    context.close()
    # no script error, no CSP refusal; the 4xx pages the tests ask for are logged, and expected
    assert [e for e in errors if not e.startswith(EXPECTED_STATUS)] == []
