"""The console's plumbing: who is visiting, form bodies, rendering, and the page wrapper.

What it is: `Visit` (the request, the services, the session and the signed-in `Principal`),
`page(handler, audience)` (session cookie, sign-in check, audience check, CSRF on POST, error
pages), `render` (Jinja2 templates, autoescaped, with security headers: a strict
Content-Security-Policy allowing only this gateway's own scripts and styles, no framing, no
caching, referrers only to this origin), `form` (an `application/x-www-form-urlencoded` body,
parsed by the stdlib).

What it is not: a decision. Every rule (the admin check, amounts, scopes, ownership) is
`toolwire.core.admin.Admin`'s; a page translates a form onto it and renders what comes back.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from toolwire.core.errors import (
    InvalidRequest,
    NotFound,
    ToolwireError,
    Unauthenticated,
    Unavailable,
)
from toolwire.core.model import Principal, micro_to_credits
from toolwire.inbound.console import oidc
from toolwire.inbound.console import session as sessions
from toolwire.inbound.console.session import CsrfError, Session
from toolwire.inbound.face import Face
from toolwire.inbound.http import read_body, row_for
from toolwire.inbound.rest import ERRORS, services

if TYPE_CHECKING:
    from jinja2 import Environment

Audience = Literal["public", "signed-in", "operator", "customer"]
FORM_LIMIT = 64 * 1024
"""Bytes: a console form is a few fields; anything bigger is refused before parsing."""

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer makes browsers send `Origin: null`
    "cache-control": "no-store",
}


@dataclass
class Visit:
    request: Request
    svc: Face
    session: Session
    principal: Principal | None
    form: Mapping[str, str] = field(default_factory=dict)

    @property
    def me(self) -> Principal:
        assert self.principal is not None  # `page` guarantees it for signed-in audiences
        return self.principal

    @property
    def operator(self) -> bool:
        return self.principal is not None and self.principal.is_admin


Handler = Callable[[Visit], Awaitable[Response]]


@functools.cache
def environment() -> Environment:
    # imported here: jinja2 is loaded by the first console page, not by an idle gateway
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("toolwire.inbound.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["credits"] = lambda micro: micro_to_credits(micro) if micro is not None else ""
    return env


def render(visit: Visit, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template with the visit's context (principal, CSRF token, audience), secured."""
    html = (
        environment()
        .get_template(template)
        .render(
            me=visit.principal,
            operator=visit.operator,
            csrf=visit.session.csrf,
            path=visit.request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status, headers=dict(SECURITY_HEADERS))


def redirect(path: str, done: str | None = None) -> RedirectResponse:
    """303 to a console path (never elsewhere), with a notice code for the next page."""
    assert path.startswith("/console")
    target = f"{path}?done={quote(done)}" if done else path
    return RedirectResponse(target, 303, headers={"cache-control": "no-store"})


def status_of(error: ToolwireError) -> int:
    """The HTTP status a console page answers `error` with: the row of its class in the table
    the console shares with the REST door and the admin API (`rest.ERRORS`, `http.row_for`)."""
    return int(row_for(ERRORS, type(error)).status)


def with_headers(response: Response, error: ToolwireError) -> Response:
    """`response` with the headers `error`'s row adds (`Retry-After`, `Allow`); never the
    Bearer challenge, which a cookie-signed-in browser page has no use for."""
    headers = row_for(ERRORS, type(error)).headers(error, challenge="")
    headers.pop("www-authenticate", None)
    response.headers.update(headers)
    return response


def refused(visit: Visit, error: ToolwireError) -> Response:
    """The refusal page for `error`: its message, its row's status and headers."""
    page = render(visit, "refused.html", status_of(error), message=error.message)
    return with_headers(page, error)


async def form(request: Request) -> dict[str, str]:
    """The urlencoded body as one value per field (the last one wins); `InvalidRequest` for
    another content type or a body that is not UTF-8."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidRequest("a console form is sent as application/x-www-form-urlencoded")
    raw = await read_body(request, FORM_LIMIT)
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form could not be read") from None


def page(
    handler: Handler, audience: Audience = "signed-in"
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a console handler: session, sign-in, audience, CSRF on POST, 404 for what is not
    the visitor's (an operator page to a customer, another account's key)."""

    async def endpoint(request: Request) -> Response:
        svc = services(request)
        found = sessions.read(request, svc.settings, svc.secret_key)
        session = found or Session.anonymous()
        principal: Principal | None = None
        if session.operator is not None:
            principal = oidc.operator_principal(svc.settings, session.operator)
            if principal is None:  # no longer on the allow-list (or sign-in switched off)
                session, found = Session.anonymous(), None
                if audience != "public":
                    return _finish(
                        request, svc, session, redirect("/console/login", "expired"), fresh=True
                    )
        elif session.key is not None:
            try:
                principal = await svc.auth.authenticate(session.key)
            except Unavailable as exc:  # the key was not judged: keep the session, say "later"
                return refused(Visit(request, svc, session, None), exc)
            except Unauthenticated:
                session = Session.anonymous()
                found = None
                if audience != "public":
                    return _finish(
                        request, svc, session, redirect("/console/login", "expired"), fresh=True
                    )
        visit = Visit(request, svc, session, principal)
        response = await _run(visit, handler, audience)
        return _finish(request, svc, visit.session, response, fresh=visit.session is not found)

    return endpoint


async def _run(visit: Visit, handler: Handler, audience: Audience) -> Response:
    if audience != "public" and visit.principal is None:
        return redirect("/console/login")
    if (audience == "operator" and not visit.operator) or (
        audience == "customer" and visit.operator
    ):
        return not_found(visit)
    if visit.request.method == "POST":
        try:
            visit.form = await form(visit.request)
            sessions.check_csrf(
                visit.request, visit.svc.settings, visit.session, visit.form.get("csrf")
            )
        except CsrfError as exc:
            return render(visit, "refused.html", 403, message=str(exc))
        except ToolwireError as exc:  # not a form, or one too big to be ours
            return refused(visit, exc)
    try:
        return await handler(visit)
    except NotFound:
        return not_found(visit)
    except ToolwireError as exc:  # a rule a page did not expect to meet: its message, no change
        return refused(visit, exc)


def not_found(visit: Visit) -> HTMLResponse:
    return render(visit, "refused.html", 404, message="There is no such page here.")


def _finish(
    request: Request, svc: Face, session: Session, response: Response, *, fresh: bool
) -> Response:
    if fresh:
        sessions.write(response, request, svc.settings, svc.secret_key, session)
    return response
