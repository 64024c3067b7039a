"""OAuth 2.1 access tokens (JWT) for the gateway as a resource server (RFC 9068 / RFC 8707).

`OAuthVerifier` implements `toolwire.core.ports.TokenVerifier`: a bearer JWT is accepted only if

- its header `alg` is asymmetric (RS*/PS*/ES*/EdDSA; never `none`, never HS*), and a key of the
  right type (and curve) with its `kid` is in the issuer's JWKS, which verifies the signature;
- its `iss` is one of `settings.oauth_authorization_servers`;
- its `aud` contains this gateway's MCP resource URL (`<base_url>/mcp`, compared canonically);
- `exp` is present and not past, and `nbf`/`iat` are not in the future (with `LEEWAY_S`);
- its subject claim (`settings.oauth_subject_claim`) is mapped by `settings.oauth_subject_keys`
  to an API key id, whose key (account, scopes, budgets, credits) is the Principal. `toolwire:`
  prefixed token scopes narrow that key's scopes; they never widen them.

Keys come from `settings.oauth_jwks_url` or the issuer's RFC 8414 / OIDC metadata `jwks_uri`,
fetched with httpx (timeout, size bound, https unless loopback), cached `JWKS_TTL_S`, refetched
early when a token names an unknown `kid` (at most once per `REFETCH_MIN_S`). While the keys
cannot be fetched, a token no kept key verifies is `Unavailable` (retry later), not
`Unauthenticated`: it was not judged; the key store failing under the subject's key look-up is
raised as is, and the `Authenticator` answers it `Unavailable` too. The token is never
stored or passed on: the Principal does not carry it. Design: docs/design/mcp-oauth.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from toolwire.core.errors import Unauthenticated, Unavailable
from toolwire.core.model import Principal
from toolwire.settings import Settings

log = logging.getLogger("toolwire.oauth.verifier")

ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
LEEWAY_S = 60
JWKS_TTL_S = 300.0
REFETCH_MIN_S = 30.0
MAX_STALE_S = 3600.0
FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_KEYS = 64
SCOPE_PREFIX = "toolwire:"

KeyLookup = Callable[[str], Awaitable[Principal | None]]
"""API key id -> its Principal (None: unknown, revoked or disabled)."""


def mcp_resource(settings: Settings) -> str:
    """This gateway's canonical MCP resource identifier: the audience its tokens must carry."""
    return settings.base_url + "/mcp"


def canonical_uri(uri: str) -> str:
    """Lowercase scheme and host, no default port, no fragment, no trailing slash."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = port is None or (scheme, port) in (("http", 80), ("https", 443))
    netloc = host if default else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def _invalid(message: str = "invalid access token") -> Unauthenticated:
    return Unauthenticated(message)


@dataclass
class _KeySet:
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: float = float("-inf")
    """When the keys were last fetched successfully."""
    attempted_at: float = float("-inf")
    """When a fetch was last tried (bounds refetches to one per `REFETCH_MIN_S`)."""
    failing: bool = False
    """Whether the last fetch failed (the issuer's keys are not known to be current)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class OAuthVerifier:
    """Verifies bearer JWTs from the configured issuers and maps them to API-key principals."""

    def __init__(self, settings: Settings, key_lookup: KeyLookup) -> None:
        self.issuers = tuple(i.strip() for i in settings.oauth_authorization_servers if i.strip())
        self.audience = canonical_uri(mcp_resource(settings))
        self.jwks_url = settings.oauth_jwks_url
        self.subject_claim = settings.oauth_subject_claim or "sub"
        self.subjects = parse_subject_keys(settings.oauth_subject_keys)
        self._key_lookup = key_lookup
        self._sets: dict[str, _KeySet] = {}

    async def principal(self, token: str) -> Principal:
        claims = await self.verify(token)
        subject = claims.get(self.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise _invalid("the access token names no subject")
        key_id = self.subjects.get(f"{claims['iss']}#{subject}") or self.subjects.get(subject)
        if key_id is None:
            raise _invalid("the access token's subject is not mapped to an API key")
        principal = await self._key_lookup(key_id)
        if principal is None or principal.is_admin:
            raise _invalid("the access token's subject maps to no usable API key")
        narrowing = token_scopes(claims)
        if narrowing is None:
            return principal
        # replace(), not a new Principal: every other field (virtual servers, plan, budgets)
        # stays as the key has it; a token only narrows the scopes.
        return dataclasses.replace(
            principal, scopes=principal.scopes.narrowed(narrowing), is_admin=False
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once everything checks out; `Unauthenticated` otherwise."""
        import jwt  # here: PyJWT (and cryptography's backends) load only when OAuth is in use

        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise _invalid("the access token's algorithm is not accepted")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self.issuers:
            raise _invalid("the access token's issuer is not trusted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid()
        jwk = await self._key_for(issuer, kid, alg)
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        audiences = claims.get("aud")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not isinstance(audiences, list) or not any(
            isinstance(a, str) and canonical_uri(a) == self.audience for a in audiences
        ):
            raise _invalid("the access token was not issued for this gateway")
        return claims

    async def _key_for(self, issuer: str, kid: str | None, alg: str) -> dict[str, Any]:
        keyset = self._sets.setdefault(self.jwks_url or issuer, _KeySet())
        now = time.monotonic()
        may_fetch = now - keyset.attempted_at > REFETCH_MIN_S
        if may_fetch and now - keyset.fetched_at > JWKS_TTL_S:
            await self._refresh(keyset, issuer)
            may_fetch = False
        found = _pick(keyset.keys, kid, alg)
        if found is None and may_fetch:  # a rotated key, maybe
            await self._refresh(keyset, issuer)
            found = _pick(keyset.keys, kid, alg)
        if found is None and keyset.failing:
            # The keys could not be fetched: the token was not judged, so "retry later", the
            # same answer as an unreachable key store (docs/design/store-unavailable.md).
            raise Unavailable("the access token's signing keys cannot be fetched; retry later")
        if found is None:
            raise _invalid("the access token's signing key is unknown")
        return found

    async def _refresh(self, keyset: _KeySet, issuer: str) -> None:
        seen = keyset.attempted_at
        async with keyset.lock:
            if keyset.attempted_at != seen:
                return  # someone else fetched while we waited
            keyset.attempted_at = time.monotonic()
            try:
                url = self.jwks_url or await self._discover(issuer)
                document = await _fetch_json(url)
                raw = document.get("keys")
                if not isinstance(raw, list):
                    raise ValueError("the JWKS has no 'keys' list")
            except Exception as exc:
                # Keep the keys we had for a while; try again after REFETCH_MIN_S.
                log.warning("could not fetch the signing keys of %s: %s", issuer, exc)
                keyset.failing = True
                if time.monotonic() - keyset.fetched_at > MAX_STALE_S:
                    keyset.keys = []
                return
            keyset.keys = [k for k in raw if isinstance(k, dict)][:MAX_KEYS]
            keyset.fetched_at = time.monotonic()
            keyset.failing = False

    async def _discover(self, issuer: str) -> str:
        """`jwks_uri` from RFC 8414 metadata, else OpenID Connect discovery."""
        parts = urlsplit(issuer)
        path = parts.path.rstrip("/")
        origin = f"{parts.scheme}://{parts.netloc}"
        candidates = [
            f"{origin}/.well-known/oauth-authorization-server{path}",
            f"{issuer.rstrip('/')}/.well-known/openid-configuration",
        ]
        last: Exception | None = None
        for url in candidates:
            try:
                metadata = await _fetch_json(url)
            except Exception as exc:
                last = exc
                continue
            if str(metadata.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
                last = ValueError(f"{url} describes another issuer")
                continue
            jwks_uri = metadata.get("jwks_uri")
            if isinstance(jwks_uri, str) and jwks_uri:
                return jwks_uri
            last = ValueError(f"{url} has no jwks_uri")
        raise ValueError(f"no authorization server metadata for {issuer}: {last}")


def _pick(keys: list[dict[str, Any]], kid: str | None, alg: str) -> dict[str, Any] | None:
    """The one key that may verify `alg` for `kid` (without a kid: the only suitable key)."""
    suitable = [k for k in keys if _suits(k, alg) and (kid is None or k.get("kid") == kid)]
    return suitable[0] if len(suitable) == 1 else None


def _suits(jwk: Mapping[str, Any], alg: str) -> bool:
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return False
    kty = jwk.get("kty")
    if alg[:2] in ("RS", "PS"):
        return kty == "RSA"
    if alg in _EC_CURVES:
        return kty == "EC" and jwk.get("crv") == _EC_CURVES[alg]
    return alg == "EdDSA" and kty == "OKP" and jwk.get("crv") in ("Ed25519", "Ed448")


async def _fetch_json(url: str) -> dict[str, Any]:
    import httpx  # here: an idle gateway without OAuth never loads it

    parts = urlsplit(url)
    loopback = (parts.hostname or "") in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"refusing to fetch keys over {parts.scheme or 'no scheme'}: {url}")
    body = bytearray()
    async with (
        httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as client,
        client.stream("GET", url, headers={"accept": "application/json"}) as response,
    ):
        if response.status_code != 200:
            raise ValueError(f"{url} answered {response.status_code}")
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    document = orjson.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url} is not a JSON object")
    return document


def parse_subject_keys(entries: tuple[str, ...]) -> dict[str, str]:
    """`subject=key_id` / `issuer#subject=key_id` pairs -> {subject-or-issuer#subject: key_id}."""
    mapping: dict[str, str] = {}
    for entry in entries:
        subject, sep, key_id = entry.strip().rpartition("=")
        if not sep or not subject.strip() or not key_id.strip():
            raise ValueError(f"TOOLWIRE_OAUTH_SUBJECT_KEYS: {entry!r} is not 'subject=key_id'")
        mapping[subject.strip()] = key_id.strip()
    return mapping


def token_scopes(claims: Mapping[str, Any]) -> list[str] | None:
    """The token's `toolwire:` scopes as scope patterns; None when it has none (no narrowing)."""
    raw = claims.get("scope", claims.get("scp"))
    values = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
    patterns = [
        v[len(SCOPE_PREFIX) :] for v in values if isinstance(v, str) and v.startswith(SCOPE_PREFIX)
    ]
    return patterns or None
