"""Operator sign-in to the console with OpenID Connect (authorization code + PKCE), in headless
Debian Chromium against a real `toolwire serve` and a local provider that follows the
documented contract (tests/support/oidc_provider.py): an allowed operator signs in and can act
as one; a forged state, an ID token from another issuer and a person not on the allow-list are
each refused on the sign-in page with no session made; a callback with no flow of this browser
is refused; the admin key and customer keys still sign in as before (test_console_browser.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inbound.console.test_console_browser import shot
from tests.support.console import CONFIG, ENV
from tests.support.oidc_provider import Provider, User, provider
from toolwire.testing import RunningGateway, free_port, running_gateway

CLIENT_ID = "toolwire-console"
CLIENT_SECRET = f"oidc secret:+/%-{secrets.token_hex(8)}"  # needs RFC 6749 2.3.1 encoding


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Provider]]:
    port = free_port()
    callback = f"http://127.0.0.1:{port}/console/oidc/callback"
    with provider(CLIENT_ID, CLIENT_SECRET, callback) as idp:
        env = {
            **ENV,
            "TOOLWIRE_CONSOLE_OIDC_ISSUER": idp.issuer,
            "TOOLWIRE_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
            "TOOLWIRE_CONSOLE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "TOOLWIRE_CONSOLE_OIDC_OPERATORS": "email:Ops@Example.com,sub:admin-2",
        }
        data = tmp_path_factory.mktemp("console-oidc")
        with running_gateway(data, config=CONFIG, env=env, port=port) as gw:
            yield gw, idp


@pytest.fixture
def idp(oidc: tuple[RunningGateway, Provider]) -> Iterator[Provider]:
    oidc[1].reset()
    yield oidc[1]


def start_sign_in(page: Any, gw: RunningGateway) -> None:
    page.goto(f"{gw.url}/console/login")
    page.get_by_role("link", name="sign in with the organisation's identity provider").click()


def signed_out(page: Any, gw: RunningGateway) -> bool:
    page.goto(f"{gw.url}/console/accounts")
    return bool(page.url.endswith("/console/login"))


def test_an_allowed_operator_signs_in_with_the_provider_and_acts_as_an_operator(
    page: Any, oidc: tuple[RunningGateway, Provider], idp: Provider, tmp_path: Path
) -> None:
    gw, _ = oidc
    idp.user = User("user-7", email="ops@example.com")
    page.goto(f"{gw.url}/console/login")
    shot(page, "login-oidc", tmp_path)
    start_sign_in(page, gw)
    page.wait_for_url("**/console/accounts")
    assert page.locator(".who").inner_text() == "Operator: ops@example.com"
    page.locator("#new-name").fill("Signed in with OIDC")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/console/accounts/acc_*")
    assert "Signed in with OIDC" in page.content()
    authorize = next(s for s in idp.seen if s["endpoint"] == "authorize")
    token = next(s for s in idp.seen if s["endpoint"] == "token")
    assert authorize["code_challenge_method"] == "S256" and authorize["problem"] is None
    assert token["pkce_ok"] and token["basic_auth"]
    assert "client_secret" not in token["form"]
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "toolwire_oidc_flow" not in cookies  # the flow cookie is cleared at the callback
    session = cookies["toolwire_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert CLIENT_SECRET not in gw.logs()
    page.get_by_role("button", name="Sign out").click()
    assert signed_out(page, gw)


@pytest.mark.parametrize(
    ("misbehave", "user", "status", "message"),
    [
        ("tamper_state", User("admin-2"), 401, "could not be verified (state)"),
        ("token_issuer", User("admin-2"), 401, "the ID token comes from another issuer"),
        (None, User("intruder", email="ops@example.com", email_verified=False), 403, "not one"),
        (None, User("intruder", email="someone@example.com"), 403, "not one of the gateway's"),
    ],
)
def test_a_sign_in_that_does_not_verify_or_is_not_allowed_makes_no_session(
    page: Any,
    oidc: tuple[RunningGateway, Provider],
    idp: Provider,
    misbehave: str | None,
    user: User,
    status: int,
    message: str,
) -> None:
    gw, _ = oidc
    idp.user = user
    if misbehave == "tamper_state":
        idp.tamper_state = True
    elif misbehave == "token_issuer":
        idp.token_issuer = "http://127.0.0.1:1/another-issuer"
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if "/console/oidc/callback" in r.url else None,
    )
    start_sign_in(page, gw)
    page.wait_for_url("**/console/oidc/callback*")
    assert statuses == [status]
    assert message in page.get_by_role("alert").inner_text()
    assert signed_out(page, gw)


def test_the_sign_in_link_works_and_the_allowed_subject_signs_in(
    page: Any, oidc: tuple[RunningGateway, Provider], idp: Provider
) -> None:
    gw, _ = oidc
    idp.user = User("admin-2")  # allowed by subject, no email
    start_sign_in(page, gw)
    page.wait_for_url("**/console/accounts")
    assert page.locator(".who").inner_text() == "Operator: admin-2"


def test_a_callback_without_this_browsers_flow_is_refused(
    oidc: tuple[RunningGateway, Provider],
) -> None:
    gw, _ = oidc
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        reply = http.get("/console/oidc/callback", params={"code": "x", "state": "y"})
        assert reply.status_code == 401
        assert "expired or was started elsewhere" in reply.text
        assert http.get("/console/accounts").status_code == 303
