"""A token's signing keys that cannot be fetched are a store that cannot answer: the token was
not judged, so it is `Unavailable` (retry later), the same as an unreachable key store; once the
keys are fetched, a token no key verifies is `Unauthenticated` again. Real sockets: the issuer is
a local JWKS server on 127.0.0.1, or a port nothing listens on."""

from __future__ import annotations

import pytest

from tests.inbound.door_matrix.issuer import Issuer, issuer
from toolwire.core.authenticator import Authenticator
from toolwire.core.errors import Unauthenticated, Unavailable
from toolwire.core.model import Principal
from toolwire.oauth.verifier import OAuthVerifier
from toolwire.settings import Settings
from toolwire.testing import free_port

AUDIENCE = Settings().base_url + "/mcp"


async def _no_key(key_id: str) -> Principal | None:
    return None


async def _store_down(key_id: str) -> Principal | None:
    raise ConnectionRefusedError("connection to the database refused")


class _NoKeys:
    async def authenticate(self, raw_key: str) -> Principal | None:
        return None


def _verifier(trusted: Issuer, jwks_url: str, lookup: object = _no_key) -> OAuthVerifier:
    settings = Settings(
        oauth_authorization_servers=(trusted.url,),
        oauth_jwks_url=jwks_url,
        oauth_subject_keys=("alice=aaaaaaaaaaaa",),
    )
    return OAuthVerifier(settings, lookup)  # type: ignore[arg-type]


async def test_a_token_whose_signing_keys_cannot_be_fetched_is_unavailable() -> None:
    with issuer() as trusted:
        down = f"http://127.0.0.1:{free_port()}/jwks"  # nothing listens there
        auth = Authenticator(_NoKeys(), tokens=_verifier(trusted, down))
        with pytest.raises(Unavailable) as refused:
            await auth.authenticate(trusted.token("alice", [AUDIENCE]))
        assert refused.value.details == {"retry_after_s": Unavailable.retry_after_s}


async def test_a_token_no_fetched_key_verifies_is_still_unauthenticated() -> None:
    with issuer() as trusted, issuer() as other:
        auth = Authenticator(_NoKeys(), tokens=_verifier(trusted, trusted.jwks_url))
        forged = Issuer(trusted.url, other.key).token("alice", [AUDIENCE])  # same kid, wrong key
        with pytest.raises(Unauthenticated):
            await auth.authenticate(forged)


async def test_a_key_store_failure_under_a_tokens_subject_is_unavailable() -> None:
    with issuer() as trusted:
        verifier = _verifier(trusted, trusted.jwks_url, _store_down)
        auth = Authenticator(_NoKeys(), tokens=verifier)
        with pytest.raises(Unavailable) as refused:
            await auth.authenticate(trusted.token("alice", [AUDIENCE]))
        assert "refused" not in refused.value.message  # the driver's text is never sent
