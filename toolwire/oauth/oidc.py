"""OpenID Connect sign-in for the console's operators: the authorization code flow with PKCE
(OpenID Connect Core 1.0 §3.1, RFC 7636 S256) against one configured issuer.

What it is: `OidcClient` (from `Settings.console_oidc_*`): `metadata()` reads the issuer's
discovery document (`<issuer>/.well-known/openid-configuration`, whose `issuer` must equal the
configured one exactly); `start()` makes a `Flow` (state, nonce, PKCE verifier: 32 random bytes
each) and the authorization URL to send the browser to; `finish(flow, code)` exchanges the code
at the token endpoint (with the verifier; `client_secret_basic` when a secret is configured)
and verifies the ID token with PyJWT: an asymmetric `alg` (`verifier.ALGORITHMS`), a key of the
issuer's JWKS (`jwks_uri`, refetched once for an unknown `kid`), `iss` equal to the issuer, `aud`
containing the client id (and `azp` equal to it when there are several), `exp`/`iat` present
(60 s leeway), `nonce` equal to the flow's. The signed-in person must then be on the operator
allow-list (`Settings.console_oidc_operators`): `sub:SUBJECT`, or `email:ADDRESS` when the token
says `email_verified: true` (compared case-insensitively). The result is an `Operator`.

Errors: `Unauthenticated` (the sign-in could not be verified: the message says which check), and
`Forbidden` (verified, but not an operator). Messages name no secret, code or token. Fetches use
httpx with a timeout and a size bound, https only unless the host is loopback.

What it is not: a session. The console keeps the flow in a short-lived sealed cookie and the
operator in its session cookie (toolwire/inbound/console/oidc.py).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

from toolwire.core.errors import Forbidden, Unauthenticated
from toolwire.core.read_through import ReadThrough
from toolwire.oauth.verifier import (
    ALGORITHMS,
    FETCH_TIMEOUT_S,
    JWKS_TTL_S,
    LEEWAY_S,
    MAX_DOCUMENT_BYTES,
    _fetch_json,
    _pick,
)
from toolwire.settings import Settings

CALLBACK_PATH = "/console/oidc/callback"
METADATA_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class Flow:
    """One sign-in in progress: kept by the browser in a sealed cookie until the callback."""

    state: str
    nonce: str
    verifier: str
    started: float


@dataclass(frozen=True, slots=True)
class Operator:
    """A person the issuer vouched for and the allow-list admits."""

    subject: str
    name: str
    """What the console shows: the email when there is one, else the subject."""
    entry: str
    """The allow-list entry that admitted them (`sub:...` or `email:...`)."""


def operator_entries(settings: Settings) -> frozenset[str]:
    """The allow-list, normalised (emails lower-cased)."""
    entries = set()
    for entry in settings.console_oidc_operators:
        kind, _, value = entry.strip().partition(":")
        entries.add(f"email:{value.strip().lower()}" if kind == "email" else entry.strip())
    return frozenset(entries)


def configured(settings: Settings) -> bool:
    return bool(settings.console_oidc_issuer)


def challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    """The console's OpenID Connect relying party (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.console_oidc_issuer or not settings.console_oidc_client_id:
            raise ValueError("OpenID Connect sign-in needs an issuer and a client id")
        self.issuer = settings.console_oidc_issuer
        self.client_id = settings.console_oidc_client_id
        self._secret = settings.console_oidc_client_secret
        self.redirect_uri = settings.base_url + CALLBACK_PATH
        self.scopes = settings.console_oidc_scopes
        self.allowed = operator_entries(settings)
        self._metadata: ReadThrough[str, dict[str, Any]] = ReadThrough(
            lambda _: self._read_metadata(), METADATA_TTL_S
        )
        self._keys: ReadThrough[str, list[dict[str, Any]]] = ReadThrough(
            lambda _: self._read_keys(), JWKS_TTL_S
        )

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (cached `METADATA_TTL_S`); `Unauthenticated` when it
        cannot be read or describes another issuer."""
        return await self._metadata.get("metadata")

    async def _read_metadata(self) -> dict[str, Any]:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = await _fetch_json(url)
        except Exception as exc:
            raise Unauthenticated(f"the sign-in provider's discovery document: {exc}") from None
        if document.get("issuer") != self.issuer:
            raise Unauthenticated("the sign-in provider's discovery document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(name), str):
                raise Unauthenticated(f"the sign-in provider's discovery document has no {name}")
        return document

    async def start(self) -> tuple[Flow, str]:
        """A new flow and the URL of the issuer's authorization endpoint for it."""
        metadata = await self.metadata()
        flow = Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),
            started=time.time(),
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scopes,
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": challenge(flow.verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = metadata["authorization_endpoint"]
        return flow, f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def finish(self, flow: Flow, code: str) -> Operator:
        """Exchange `code`, verify the ID token, check the allow-list (module docstring)."""
        metadata = await self.metadata()
        claims = await self._verify(await self._exchange(metadata, flow, code), flow)
        subject = claims["sub"]
        email = claims.get("email")
        verified = claims.get("email_verified") is True
        candidates = [f"sub:{subject}"]
        if isinstance(email, str) and verified:
            candidates.append(f"email:{email.lower()}")
        for entry in candidates:
            if entry in self.allowed:
                name = email if isinstance(email, str) and verified else subject
                return Operator(subject=subject, name=name, entry=entry)
        raise Forbidden("this account is not one of the gateway's operators")

    async def _exchange(self, metadata: dict[str, Any], flow: Flow, code: str) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": flow.verifier,
        }
        import httpx  # the first sign-in: an idle gateway does not load the HTTP client

        auth: httpx.Auth | None = None
        if self._secret:
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before HTTP Basic encodes them
            auth = httpx.BasicAuth(
                quote_plus(self.client_id, safe=""), quote_plus(self._secret, safe="")
            )
        else:
            form["client_id"] = self.client_id
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as c:
                reply = await c.post(
                    _checked_url(metadata["token_endpoint"]),
                    data=form,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    headers={"accept": "application/json"},
                )
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the sign-in provider's token endpoint: {exc}") from None
        if reply.status_code != 200 or len(reply.content) > MAX_DOCUMENT_BYTES:
            raise Unauthenticated(
                f"the sign-in provider refused the code (HTTP {reply.status_code})"
            )
        try:
            token = reply.json().get("id_token")
        except ValueError:
            token = None
        if not isinstance(token, str):
            raise Unauthenticated("the sign-in provider returned no ID token")
        return token

    async def _verify(self, token: str, flow: Flow) -> dict[str, Any]:
        import jwt  # PyJWT loads on a sign-in, not in an idle gateway (tests/test_app.py)

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the ID token is not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise Unauthenticated("the ID token's algorithm is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the ID token's key id is not a string")
        jwk = await self._key(kid, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=jwt.PyJWK(jwk, algorithm=alg).key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the ID token comes from another issuer") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the ID token was issued to another client") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the ID token is not valid ({type(exc).__name__})") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise Unauthenticated("the ID token was issued to another client")
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not secrets.compare_digest(nonce, flow.nonce):
            raise Unauthenticated("the ID token does not belong to this sign-in (nonce)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthenticated("the ID token names no subject")
        return claims

    async def _key(self, kid: str | None, alg: str) -> dict[str, Any]:
        found = _pick(await self._keys.get("jwks"), kid, alg)
        if found is None:  # rotated since we read them: read them again (once, shared)
            self._keys.forget("jwks")
            found = _pick(await self._keys.get("jwks"), kid, alg)
        if found is None:
            raise Unauthenticated("the ID token's signing key is unknown")
        return found

    async def _read_keys(self) -> list[dict[str, Any]]:
        metadata = await self.metadata()
        try:
            document = await _fetch_json(metadata["jwks_uri"])
        except Exception as exc:
            raise Unauthenticated(f"the sign-in provider's keys: {exc}") from None
        raw = document.get("keys")
        return [k for k in raw if isinstance(k, dict)] if isinstance(raw, list) else []


def _checked_url(url: str) -> str:
    """`url` when it is https, or http to a loopback host; `ValueError` otherwise."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if scheme == "https" or (scheme == "http" and host in ("localhost", "127.0.0.1", "::1")):
        return url
    raise ValueError(f"refusing to send the code over {scheme or 'no scheme'}")
