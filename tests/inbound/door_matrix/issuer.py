"""A local OAuth authorization server on 127.0.0.1 for the store-down cells: it publishes one
RS256 signing key as a JWKS and mints access tokens with it, so a door can present an OAuth
bearer token (`toolwire.oauth.verifier`) instead of an API key.

What this is not: an OAuth flow. Tokens are minted directly, as an authorization server would
issue them; the gateway only verifies them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstream.servers import serving

KID = "matrix-rsa"


@dataclass(frozen=True)
class Issuer:
    url: str
    key: rsa.RSAPrivateKey

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    def token(self, subject: str, audiences: Sequence[str]) -> str:
        """A valid RS256 access token for `subject`, good for five minutes."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": subject,
            "aud": list(audiences),
            "iat": now,
            "exp": now + 300,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def env(self, subject_keys: Sequence[str]) -> dict[str, str]:
        """The gateway settings that trust this issuer and map `subject=key_id` pairs."""
        return {
            "TOOLWIRE_OAUTH_AUTHORIZATION_SERVERS": self.url,
            "TOOLWIRE_OAUTH_JWKS_URL": self.jwks_url,
            "TOOLWIRE_OAUTH_SUBJECT_KEYS": ",".join(subject_keys),
        }


@contextmanager
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def keys(request: Request) -> Response:
        return JSONResponse(jwks)

    with serving(Starlette(routes=[Route("/jwks", keys)])) as served:
        yield Issuer(served.url, key)
