"""The console's session cookie: it opens only under the secret and purpose that sealed it,
unaltered and unexpired; https gets `Secure` and the `__Host-` name."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from http.cookies import SimpleCookie

from starlette.requests import Request
from starlette.responses import Response

from toolwire.inbound.console import session as sessions
from toolwire.inbound.console.session import Session
from toolwire.settings import Settings

SECRET = os.urandom(32)


def request(scheme: str = "http", cookie: str | None = None) -> Request:
    headers = [(b"host", b"127.0.0.1:8787")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return Request(
        {"type": "http", "method": "GET", "path": "/console", "scheme": scheme, "headers": headers}
    )


def sealed(session: Session, scheme: str = "http") -> tuple[str, str]:
    """(the Set-Cookie header, the `name=value` a browser sends back)."""
    response = Response()
    sessions.write(response, request(scheme), Settings(), SECRET, session)
    header = response.headers["set-cookie"]
    morsel = next(iter(SimpleCookie(header).values()))
    return header, f"{morsel.key}={morsel.value}"


def test_a_session_opens_as_it_was_sealed_and_holds_no_clear_key() -> None:
    session = Session.signed_in("tw_abc_secretpart")
    header, cookie = sealed(session)
    assert "secretpart" not in header
    assert sessions.read(request(cookie=cookie), Settings(), SECRET) == session


def test_an_altered_foreign_or_expired_cookie_is_no_session() -> None:
    _, cookie = sealed(Session.signed_in("tw_abc_secret"))
    name, value = cookie.split("=", 1)
    flipped = f"{name}={value[:-2]}{'A' if value[-2] != 'A' else 'B'}{value[-1]}"
    assert sessions.read(request(cookie=flipped), Settings(), SECRET) is None
    assert sessions.read(request(cookie=cookie), Settings(), os.urandom(32)) is None
    assert sessions.read(request(cookie=f"{name}=not-base64!"), Settings(), SECRET) is None
    _, old = sealed(replace(Session.signed_in("tw_abc_secret"), expires=time.time() - 1))
    assert sessions.read(request(cookie=old), Settings(), SECRET) is None


def test_over_https_the_cookie_is_secure_and_host_prefixed() -> None:
    header, _ = sealed(Session.anonymous(), scheme="https")
    assert header.startswith("__Host-toolwire_console=")
    assert "Secure" in header and "Path=/;" in header and "HttpOnly" in header
    plain, _ = sealed(Session.anonymous())
    assert plain.startswith("toolwire_console=") and "Secure" not in plain
