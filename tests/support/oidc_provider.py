"""A small OpenID Connect provider for tests, following the documented contract: discovery
(OpenID Connect Discovery 1.0 §4), the authorization endpoint (Core §3.1.2: `response_type=code`,
a registered `redirect_uri`, `scope` with `openid`, PKCE S256 required, RFC 7636), the token
endpoint (Core §3.1.3: the code once, the same `redirect_uri`, the PKCE verifier, client
authentication with HTTP Basic when the client has a secret), and a JWKS with one RSA key that
signs RS256 ID tokens (`iss`, `sub`, `aud`, `exp`, `iat`, `nonce`, `email`, `email_verified`).

It signs in whoever `Provider.user` names without asking (a test drives the browser), and can be
told to misbehave the ways the tests need: a state that is not the one it was given
(`tamper_state`), an ID token from another issuer (`token_issuer`). What it saw is in `seen`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.upstream.servers import serving
from toolwire.testing import free_port


@dataclass
class User:
    sub: str
    email: str | None = None
    email_verified: bool = True


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]
    user: User = field(default_factory=lambda: User("user-1"))
    tamper_state: bool = False
    token_issuer: str | None = None
    """The `iss` put in ID tokens (None: the real issuer)."""
    seen: list[dict[str, Any]] = field(default_factory=list)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = field(default_factory=lambda: secrets.token_hex(8))

    def reset(self) -> None:
        self.tamper_state, self.token_issuer = False, None
        self.seen.clear()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        problem = None
        if q.get("response_type") != "code" or q.get("client_id") != self.client_id:
            problem = "unsupported_response_type or unknown client"
        elif q.get("redirect_uri") not in self.redirect_uris:
            problem = "redirect_uri not registered"
        elif "openid" not in (q.get("scope") or "").split():
            problem = "scope needs openid"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            problem = "PKCE S256 required"
        self.seen.append({"endpoint": "authorize", **dict(q), "problem": problem})
        if problem is not None:
            return JSONResponse({"error": "invalid_request", "error_description": problem}, 400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce"),
            "user": self.user,
        }
        state = "forged-" + secrets.token_urlsafe(8) if self.tamper_state else q.get("state")
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}")

    async def token(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        seen: dict[str, Any] = {"endpoint": "token", "form": sorted(form)}
        self.seen.append(seen)
        if self.client_secret is not None:
            seen["basic_auth"] = _basic(request.headers.get("authorization", "")) == (
                self.client_id,
                self.client_secret,
            )
            if not seen["basic_auth"]:
                return JSONResponse({"error": "invalid_client"}, 401)
        elif form.get("client_id") != self.client_id:
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self._codes.pop(str(form.get("code", "")), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect"}, 400)
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        seen["pkce_ok"] = (
            base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == grant["challenge"]
        )
        if not seen["pkce_ok"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        user: User = grant["user"]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.token_issuer or self.issuer,
            "sub": user.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
        }
        if user.email is not None:
            claims["email"], claims["email_verified"] = user.email, user.email_verified
        id_token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        body = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}
        return JSONResponse({**body, "expires_in": 300, "id_token": id_token})

    async def jwks(self, request: Request) -> JSONResponse:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]})


@contextmanager
def provider(client_id: str, client_secret: str | None, redirect_uri: str) -> Iterator[Provider]:
    """A provider on 127.0.0.1 (its issuer is its own URL) with one registered client."""
    port = free_port()
    idp = Provider(f"http://127.0.0.1:{port}", client_id, client_secret, [redirect_uri])
    with serving(idp.app(), port=port):
        yield idp


def _basic(header: str) -> tuple[str, str] | None:
    """HTTP Basic client credentials as RFC 6749 §2.3.1 defines them: base64 of
    `form-urlencoded(id) ":" form-urlencoded(secret)`; None when the header is not that."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(value, validate=True).decode()
    except ValueError:
        return None
    client_id, colon, secret = pair.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else None
