"""The console's session: one sealed cookie holding who signed in and the form (CSRF) token.

What it is: `Session` (the CSRF token, the API key the person signed in with, the expiry), read
from and written to one cookie sealed with the gateway's sealing helper (`toolwire.sealing`,
purpose `CONSOLE_SESSION`: AES-256-GCM under a key derived from the gateway secret), so the
browser holds only ciphertext it can neither read nor forge. The key is authenticated again on
every request (`Authenticator.authenticate`), so a revoked key ends its sessions at once.

Cookie attributes: `HttpOnly`, `SameSite=Strict`, `Path=/console`; over https also `Secure` and
the `__Host-` name prefix (which needs `Path=/`). Over plain http (the http://127.0.0.1 dev case)
`Secure` would make the browser drop the cookie, so it is left off there (docs/console.md).

CSRF: a session-bound synchronizer token (`Session.csrf`, 32 random bytes) in every form, checked
in constant time on every POST (`check_csrf`), plus the gateway's Origin allow-list on the
`Origin` header (`toolwire.inbound.origins`). Signing in or out replaces the token.

What it is not: authentication (the `Authenticator` decides who a key is) or storage: nothing
about a session is kept on the server.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from toolwire.inbound import origins
from toolwire.sealing import CONSOLE_SESSION, Sealer, SealError
from toolwire.settings import Settings

LIFETIME_S = 8 * 3600
"""A session lasts 8 hours from sign-in, then the person signs in again."""
COOKIE = "toolwire_console"
SECURE_COOKIE = "__Host-toolwire_console"
_AAD = b"toolwire console session v1"


class CsrfError(Exception):
    """A POST without this session's form token, or from an origin the gateway does not allow."""


@dataclass(frozen=True)
class Session:
    csrf: str
    key: str | None = None
    """The API key signed in with (None: not signed in). Lives only inside the sealed cookie."""
    expires: float = 0.0
    """Unix seconds."""
    operator: tuple[str, str, str] | None = None
    """An operator signed in with OpenID Connect: (subject, name shown, allow-list entry);
    checked against the allow-list again on every request (`toolwire.inbound.console.oidc`)."""

    @classmethod
    def anonymous(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), expires=time.time() + LIFETIME_S)

    @classmethod
    def signed_in(cls, key: str) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), key=key, expires=time.time() + LIFETIME_S)

    @classmethod
    def operator_signed_in(cls, subject: str, name: str, entry: str) -> Session:
        return cls(
            csrf=secrets.token_urlsafe(32),
            expires=time.time() + LIFETIME_S,
            operator=(subject, name, entry),
        )


def is_https(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def cookie_name(request: Request, settings: Settings) -> str:
    return SECURE_COOKIE if is_https(request, settings) else COOKIE


def read(request: Request, settings: Settings, secret: bytes) -> Session | None:
    """The request's session, or None when it has none, or one that does not open or expired."""
    raw = request.cookies.get(cookie_name(request, settings))
    if not raw:
        return None
    try:
        sealed = base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4))
        fields = orjson.loads(Sealer(secret, CONSOLE_SESSION).open(sealed, _AAD))
    except (ValueError, SealError, orjson.JSONDecodeError):
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("csrf"), str):
        return None
    key, expires = fields.get("key"), fields.get("expires")
    if not isinstance(expires, float | int) or expires < time.time():
        return None
    operator = fields.get("operator")
    if not (isinstance(operator, list) and len(operator) == 3) or not all(
        isinstance(part, str) for part in operator
    ):
        operator = None
    return Session(
        fields["csrf"],
        key if isinstance(key, str) else None,
        float(expires),
        None if operator is None else (operator[0], operator[1], operator[2]),
    )


def write(
    response: Response, request: Request, settings: Settings, secret: bytes, session: Session
) -> None:
    """Set the sealed cookie on `response`."""
    plain = orjson.dumps(
        {
            "csrf": session.csrf,
            "key": session.key,
            "expires": session.expires,
            "operator": session.operator,
        }
    )
    sealed = Sealer(secret, CONSOLE_SESSION).seal(plain, _AAD)
    https = is_https(request, settings)
    response.set_cookie(
        cookie_name(request, settings),
        base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii"),  # no quoting needed
        max_age=max(0, int(session.expires - time.time())),
        path="/" if https else "/console",
        secure=https,
        httponly=True,
        samesite="strict",
    )


def check_csrf(request: Request, settings: Settings, session: Session, token: str | None) -> None:
    """Raise `CsrfError` unless `token` is this session's and the Origin (when the browser sent
    one, as every current browser does on a POST) is allowed by the gateway's Origin rules."""
    origin = request.headers.get("origin")
    if origin is not None and not origins.allowed(origin, settings):
        raise CsrfError("this form was sent from a page the gateway does not allow")
    if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise CsrfError("this form has expired or did not come from this console; try again")
