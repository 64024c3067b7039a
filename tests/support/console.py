"""What the console's tests share: the gateway they start (echo priced, a BYOK tool), and
reading a page's form token the way a browser would submit it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "builtins": {"modules": ["tests.support.tools", "tests.support.billing_tools"]},
    "prices": {"echo": 0.25, "acme": 2},
    "limits": {
        "plans": {"default": {"per_account": "10000/hour"}, "pro": {"per_account": "50000/hour"}}
    },
}
ENV = {"PYTHONPATH": str(REPO)}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first form token on a page."""
    found = _CSRF.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def sign_in(http: httpx.Client, key: str) -> httpx.Response:
    """Open the sign-in page, then send the key with its token (as a person's browser does)."""
    token = csrf_of(http.get("/console/login").text)
    return http.post("/console/login", data={"csrf": token, "key": key}, headers=own_origin(http))


def own_origin(http: httpx.Client) -> dict[str, str]:
    return {"origin": str(http.base_url).rstrip("/")}


def post(http: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Send a form found on `page` to `action`, with that page's token and our own Origin."""
    token = csrf_of(http.get(page).text)
    return http.post(action, data={"csrf": token, **data}, headers=own_origin(http))
