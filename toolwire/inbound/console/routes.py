"""The console's routes under `/console`: sign-in, the operator's and the customer's pages, and
the static files (htmx, Chart.js, the console's own script and style) shipped in the package.

Every route is HTML for a browser, so none is in `/openapi.json` (the JSON APIs the pages
translate onto, `/admin/v1` and `/api/v1`, are). Audiences: `public` (sign-in), `signed-in`
(either), `operator` (an admin key), `customer` (an account's key); the wrong audience gets 404.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from toolwire.core.errors import Forbidden, ToolwireError, Unauthenticated, Unavailable
from toolwire.inbound.console import audit, customer, operator, upstreams
from toolwire.inbound.console import oidc as console_oidc
from toolwire.inbound.console.session import Session, is_https
from toolwire.inbound.console.web import (
    Audience,
    Handler,
    Visit,
    not_found,
    page,
    redirect,
    render,
    status_of,
    with_headers,
)
from toolwire.oauth import oidc

STATIC = Path(__file__).with_name("static")
MAX_KEY = 512
"""Characters in a key typed into the sign-in form; longer is refused before it is checked."""
LOGIN_NOTICES = {
    "expired": "Your session ended: the key was revoked or is no longer valid. Sign in again.",
    "out": "You are signed out.",
}
UNAVAILABLE = "The gateway cannot check keys right now. Nothing was decided; try again shortly."


async def home(visit: Visit) -> Response:
    return redirect("/console/accounts" if visit.operator else "/console/me")


async def login_page(visit: Visit, *, error: str | None = None, status: int = 200) -> Response:
    if visit.principal is not None and error is None:
        return await home(visit)
    done = visit.request.query_params.get("done", "")
    return render(
        visit,
        "login.html",
        status,
        error=error,
        notice=LOGIN_NOTICES.get(done),
        oidc=oidc.configured(visit.svc.settings),
    )


async def login(visit: Visit) -> Response:
    key = visit.form.get("key", "").strip()
    try:
        if not key or len(key) > MAX_KEY:
            raise Unauthenticated("enter an API key")
        principal = await visit.svc.auth.authenticate(key)
    except Unavailable as exc:  # the key was not judged: not "invalid", and no session yet
        visit.principal = None
        page = await login_page(visit, error=UNAVAILABLE, status=status_of(exc))
        return with_headers(page, exc)
    except Unauthenticated:
        visit.principal = None
        return await login_page(
            visit, error="That key is not valid, or it was revoked.", status=401
        )
    visit.session = Session.signed_in(key)  # a new form token with every sign-in
    visit.principal = principal
    return await home(visit)


async def oidc_start(visit: Visit) -> Response:
    settings = visit.svc.settings
    if not oidc.configured(settings):
        return not_found(visit)
    try:
        flow, response = await console_oidc.start(settings)
    except ToolwireError as exc:
        return await login_page(visit, error=exc.message, status=503)
    secret = visit.svc.secret_key
    https = is_https(visit.request, settings)
    console_oidc.set_flow_cookie(
        response, visit.request, https, console_oidc.seal_flow(flow, secret)
    )
    return response


async def oidc_callback(visit: Visit) -> Response:
    settings = visit.svc.settings
    if not oidc.configured(settings):
        return not_found(visit)
    https = is_https(visit.request, settings)
    flow = console_oidc.open_flow(visit.request, visit.svc.secret_key)
    try:
        operator = await console_oidc.finish(settings, visit.request, flow)
    except (Unauthenticated, Forbidden) as exc:
        visit.principal = None
        refused = await login_page(
            visit, error=exc.message, status=console_oidc.refusal_status(exc)
        )
        console_oidc.clear_flow_cookie(refused, https)
        return refused
    visit.session = Session.operator_signed_in(*operator)  # a new form token too
    visit.principal = console_oidc.operator_principal(settings, operator)
    response = render(visit, "signed_in.html")
    console_oidc.clear_flow_cookie(response, https)
    return response


async def logout(visit: Visit) -> Response:
    visit.session = Session.anonymous()
    return redirect("/console/login", "out")


async def tools(visit: Visit) -> Response:
    gateway = visit.svc.gateway
    ops = list(gateway.catalog) if visit.operator else list(gateway.visible(visit.me))
    return render(visit, "tools.html", operations=ops)


def _r(path: str, handler: Handler, audience: Audience, method: str = "GET") -> Route:
    return Route(f"/console{path}", page(handler, audience), methods=[method])


routes: list[BaseRoute] = [
    _r("", home, "signed-in"),
    _r("/login", login_page, "public"),
    _r("/login", login, "public", "POST"),
    _r("/logout", logout, "public", "POST"),
    _r("/oidc/start", oidc_start, "public"),
    _r("/oidc/callback", oidc_callback, "public"),
    _r("/tools", tools, "signed-in"),
    # operator
    _r("/accounts", operator.accounts, "operator"),
    _r("/accounts", operator.create_account, "operator", "POST"),
    _r("/accounts/{account_id}", operator.account, "operator"),
    _r("/accounts/{account_id}/credits", operator.grant, "operator", "POST"),
    _r("/accounts/{account_id}/low-balance", operator.low_balance, "operator", "POST"),
    _r("/accounts/{account_id}/plan", operator.plan, "operator", "POST"),
    _r("/accounts/{account_id}/keys", operator.create_key, "operator", "POST"),
    _r("/keys", operator.keys, "operator"),
    _r("/keys/{key_id}/revoke", operator.revoke_key, "operator", "POST"),
    _r("/keys/{key_id}/budget", operator.set_budget, "operator", "POST"),
    _r("/usage", operator.usage, "operator"),
    _r("/audit", audit.audit, "operator"),
    _r("/audit/export", audit.export, "operator"),
    _r("/upstreams", upstreams.upstreams, "operator"),
    _r("/upstreams/{name}/approve", upstreams.approve, "operator", "POST"),
    # customer
    _r("/me", customer.overview, "customer"),
    _r("/me/keys", customer.keys, "customer"),
    _r("/me/keys", customer.create_key, "customer", "POST"),
    _r("/me/keys/{key_id}/revoke", customer.revoke_key, "customer", "POST"),
    _r("/me/audit", audit.audit, "customer"),
    _r("/me/audit/export", audit.export, "customer"),
    _r("/me/byok", customer.byok, "customer"),
    _r("/me/byok", customer.put_byok, "customer", "POST"),
    _r("/me/byok/{provider}/delete", customer.delete_byok, "customer", "POST"),
    Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
]
