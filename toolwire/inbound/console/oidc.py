"""Operator sign-in with OpenID Connect, where configured (`Settings.console_oidc_*`).

    GET /console/oidc/start      a new flow (`toolwire.oauth.oidc.OidcClient.start`): the flow
                                 (state, nonce, PKCE verifier) goes into a sealed cookie
                                 (`FLOW_COOKIE`: HttpOnly, SameSite=Lax so the provider's
                                 redirect back carries it, Path=/console/oidc, 10 minutes), and
                                 the browser to the provider's authorization endpoint
    GET /console/oidc/callback   `?code&state` (or `?error`): the state must equal the flow's
                                 (constant time), then `OidcClient.finish` (code exchange, ID
                                 token, allow-list); success: a new operator session, and a
                                 page that moves on to /console/accounts

Every failure (no flow cookie, a state that does not match, an error from the provider, a token
that does not verify, someone not on the allow-list) is the sign-in page with a message and
status 400, 401 or 403; no session is made. The flow cookie is cleared either way.

Why a page and not a 303 after the callback: the session cookie is SameSite=Strict, and a
browser does not send it on a navigation that a cross-site redirect chain started; the page's
own same-origin refresh does.
"""

from __future__ import annotations

import base64
import secrets
import time

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from toolwire.core.errors import Forbidden, ToolwireError, Unauthenticated
from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.oauth.oidc import Flow, OidcClient, configured, operator_entries
from toolwire.sealing import CONSOLE_SESSION, Sealer, SealError
from toolwire.settings import Settings

FLOW_COOKIE = "toolwire_oidc_flow"
FLOW_PATH = "/console/oidc"
FLOW_LIFETIME_S = 600
_FLOW_AAD = b"toolwire console oidc flow v1"
_clients: dict[int, OidcClient] = {}


def client(settings: Settings) -> OidcClient:
    """This process's relying party for `settings` (one per settings object)."""
    found = _clients.get(id(settings))
    if found is None or found.issuer != settings.console_oidc_issuer:
        found = _clients[id(settings)] = OidcClient(settings)
    return found


def operator_principal(settings: Settings, operator: tuple[str, str, str]) -> Principal | None:
    """The operator `Principal` of a session signed in with OpenID Connect, or None when sign-in
    is no longer configured or the entry that admitted them is no longer on the allow-list."""
    subject, name, entry = operator
    if not configured(settings) or entry not in operator_entries(settings):
        return None
    return Principal(
        key_id=f"oidc:{subject}"[:200],
        account_id="",
        scopes=ScopeSet(["*"]),
        is_admin=True,
        name=name,
    )


def seal_flow(flow: Flow, secret: bytes) -> str:
    plain = orjson.dumps([flow.state, flow.nonce, flow.verifier, flow.started])
    sealed = Sealer(secret, CONSOLE_SESSION).seal(plain, _FLOW_AAD)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def open_flow(request: Request, secret: bytes) -> Flow | None:
    """The flow of the browser's cookie; None when there is none, or it does not open or is
    older than `FLOW_LIFETIME_S`."""
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        return None
    try:
        sealed = base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4))
        state, nonce, verifier, started = orjson.loads(
            Sealer(secret, CONSOLE_SESSION).open(sealed, _FLOW_AAD)
        )
    except (ValueError, TypeError, SealError, orjson.JSONDecodeError):
        return None
    if not all(isinstance(v, str) for v in (state, nonce, verifier)):
        return None
    if not isinstance(started, float | int) or time.time() - started > FLOW_LIFETIME_S:
        return None
    return Flow(state, nonce, verifier, float(started))


def set_flow_cookie(response: Response, request: Request, https: bool, value: str) -> None:
    response.set_cookie(
        FLOW_COOKIE,
        value,
        max_age=FLOW_LIFETIME_S,
        path=FLOW_PATH,
        secure=https,
        httponly=True,
        samesite="lax",
    )


def clear_flow_cookie(response: Response, https: bool) -> None:
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, secure=https, httponly=True)


async def start(settings: Settings) -> tuple[Flow, RedirectResponse]:
    """A new flow and the redirect to the provider; `ToolwireError` when it cannot be read."""
    flow, url = await client(settings).start()
    return flow, RedirectResponse(url, 303, headers={"cache-control": "no-store"})


async def finish(settings: Settings, request: Request, flow: Flow | None) -> tuple[str, str, str]:
    """The operator (subject, name, entry) of a callback; `Unauthenticated` or `Forbidden`."""
    params = request.query_params
    if flow is None:
        raise Unauthenticated("this sign-in has expired or was started elsewhere; try again")
    state = params.get("state") or ""
    if not secrets.compare_digest(state.encode(), flow.state.encode()):
        raise Unauthenticated("this sign-in could not be verified (state); try again")
    if params.get("error"):
        raise Unauthenticated("the sign-in provider did not sign you in")
    code = params.get("code")
    if not code or len(code) > 2048:
        raise Unauthenticated("the sign-in provider sent no code")
    operator = await client(settings).finish(flow, code)
    return operator.subject, operator.name, operator.entry


def refusal_status(error: ToolwireError) -> int:
    return 403 if isinstance(error, Forbidden) else 401
