"""Credential injection for HTTP upstreams: header, bearer, basic, query parameter, OAuth 2.0.

What it is: one small class per mode, each turning the credential values the call path resolved
(slot -> value, see `AuthSpec.slots`) into headers or query parameters on an outgoing request.
`OAuth2ClientCredentials` fetches a token from the token endpoint, caches it until shortly before
it expires, refreshes it once when the API answers 401, and lets one caller fetch while the others
wait. Every value it sends or receives is registered with the redactor (whatever its source, vault
or the caller's own key), which is also how `CredentialGuard` recognises a credential on a request
to a foreign origin. What it is not: a vault (values arrive resolved) or an inbound authenticator.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from toolwire.core.errors import UpstreamError
from toolwire.upstream import errors
from toolwire.upstream.text import load_json
from toolwire.vault.redact import Redactor

TOKEN_EARLY_REFRESH_S = 30.0
AUTH_TYPES = ("header", "bearer", "basic", "query", "oauth2_client_credentials")


@dataclass(frozen=True)
class AuthSpec:
    """How an upstream authenticates, as the catalog declares it. Secret fields name vault
    secrets; literal fields (a header name, a username, a client id) are plain config."""

    type: str
    secret: str
    name: str | None = None
    """Header name (`header`) or query parameter name (`query`)."""
    format: str = "{secret}"
    """Header value template for `header` (e.g. "Token {secret}")."""
    username: str | None = None
    username_secret: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_id_secret: str | None = None
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    client_auth: str = "basic"
    """How the client authenticates to the token endpoint: "basic" header or "body" fields."""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> dict[str, str]:
        """Credential slot -> vault secret name, for `OperationSpec.credentials`."""
        found = {"secret": self.secret}
        if self.username_secret:
            found["username"] = self.username_secret
        if self.client_id_secret:
            found["client_id"] = self.client_id_secret
        return found


def _need(creds: Mapping[str, str], slot: str) -> str:
    value = creds.get(slot)
    if not value:
        raise UpstreamError(
            "the upstream credential is not available", details={"reason": "credential_missing"}
        )
    return value


class Auth:
    """Applies credentials to a request. Stateless unless a subclass says otherwise."""

    def __init__(self, spec: AuthSpec, redactor: Redactor) -> None:
        self.spec = spec
        self.redactor = redactor

    async def apply(
        self, client: httpx.AsyncClient, request: httpx.Request, creds: Mapping[str, str]
    ) -> None:
        raise NotImplementedError

    def invalidate(self, creds: Mapping[str, str]) -> bool:
        """Forget cached state after a 401; True when retrying could help."""
        return False


class HeaderAuth(Auth):
    async def apply(
        self, client: httpx.AsyncClient, request: httpx.Request, creds: Mapping[str, str]
    ) -> None:
        value = self.spec.format.replace("{secret}", _need(creds, "secret"))
        self.redactor.add(value)
        request.headers[self.spec.name or "X-Api-Key"] = value


class BearerAuth(Auth):
    async def apply(
        self, client: httpx.AsyncClient, request: httpx.Request, creds: Mapping[str, str]
    ) -> None:
        secret = _need(creds, "secret")
        self.redactor.add(secret)
        request.headers["Authorization"] = f"Bearer {secret}"


class BasicAuth(Auth):
    async def apply(
        self, client: httpx.AsyncClient, request: httpx.Request, creds: Mapping[str, str]
    ) -> None:
        user = creds.get("username") or self.spec.username or ""
        secret = _need(creds, "secret")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        self.redactor.add(secret, token)
        request.headers["Authorization"] = f"Basic {token}"


class QueryAuth(Auth):
    async def apply(
        self, client: httpx.AsyncClient, request: httpx.Request, creds: Mapping[str, str]
    ) -> None:
        secret = _need(creds, "secret")
        self.redactor.add(secret)
        # Appended as httpx encodes a pair, leaving the rest of the query as the request
        # builder encoded it (copy_add_param would re-encode every declared parameter style).
        pair = str(httpx.QueryParams({self.spec.name or "api_key": secret}))
        query = request.url.query
        request.url = request.url.copy_with(
            query=query + b"&" + pair.encode() if query else pair.encode()
        )


@dataclass
class _Token:
    value: str
    expires_at: float


class OAuth2ClientCredentials(Auth):
    """RFC 6749 §4.4: a cached access token per client, refreshed before expiry or after a 401."""

    def __init__(self, spec: AuthSpec, redactor: Redactor, upstream: str) -> None:
        super().__init__(spec, redactor)
        self.upstream = upstream
        self._tokens: dict[str, _Token] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _key(creds: Mapping[str, str]) -> str:
        material = f"{creds.get('client_id', '')}\0{creds.get('secret', '')}".encode()
        return hashlib.sha256(material).hexdigest()

    async def apply(
        self, client: httpx.AsyncClient, request: httpx.Request, creds: Mapping[str, str]
    ) -> None:
        token = await self.token(client, creds)
        request.headers["Authorization"] = f"Bearer {token}"

    def invalidate(self, creds: Mapping[str, str]) -> bool:
        return self._tokens.pop(self._key(creds), None) is not None

    async def token(self, client: httpx.AsyncClient, creds: Mapping[str, str]) -> str:
        key = self._key(creds)
        cached = self._tokens.get(key)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached.value
        async with self._lock:  # one fetch at a time; the others find it cached
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at > time.monotonic():
                return cached.value
            fresh = await self._fetch(client, creds)
            self._tokens[key] = fresh
            return fresh.value

    async def _fetch(self, client: httpx.AsyncClient, creds: Mapping[str, str]) -> _Token:
        client_id = creds.get("client_id") or self.spec.client_id or ""
        secret = _need(creds, "secret")
        form: dict[str, str] = {"grant_type": "client_credentials", **self.spec.extra}
        if self.spec.scopes:
            form["scope"] = " ".join(self.spec.scopes)
        if self.spec.audience:
            form["audience"] = self.spec.audience
        headers = {"Accept": "application/json"}
        self.redactor.add(secret)
        if self.spec.client_auth == "body":
            form.update(client_id=client_id, client_secret=secret)
        else:
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
            self.redactor.add(basic)
            headers["Authorization"] = f"Basic {basic}"
        assert self.spec.token_url is not None
        try:
            response = await client.post(self.spec.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise errors.from_httpx(self.upstream, exc) from None
        if response.status_code >= 400:
            raise errors.from_status(f"{self.upstream} token endpoint", response.status_code)
        try:
            body: Any = load_json(response.content)
            value = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (KeyError, TypeError, ValueError):
            raise errors.bad_body(
                f"{self.upstream} token endpoint", "not_json", response.status_code
            ) from None
        self.redactor.add(value)
        early = min(TOKEN_EARLY_REFRESH_S, lifetime / 2)
        return _Token(value, time.monotonic() + lifetime - early)


def make_auth(spec: AuthSpec | None, redactor: Redactor, upstream: str) -> Auth | None:
    if spec is None:
        return None
    if spec.type == "oauth2_client_credentials":
        return OAuth2ClientCredentials(spec, redactor, upstream)
    kinds: dict[str, type[Auth]] = {
        "header": HeaderAuth,
        "bearer": BearerAuth,
        "basic": BasicAuth,
        "query": QueryAuth,
    }
    if spec.type not in kinds:
        raise ValueError(f"unknown auth type {spec.type!r}; use one of {', '.join(AUTH_TYPES)}")
    return kinds[spec.type](spec, redactor)
