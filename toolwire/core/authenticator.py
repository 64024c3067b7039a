"""Authentication: a presented key becomes a Principal, or the call stops with `Unauthenticated`.

Doors extract the raw key from their transport (Bearer header, X-API-Key, ...) and hand it here;
they never look keys up themselves. The operator's `TOOLWIRE_ADMIN_KEY`, when set, is compared in
constant time and never stored. With a `TokenVerifier` (OAuth), a bearer token shaped like a JWT
(three dot-separated parts, not `tw_...`) goes to it instead of the key store.

Whatever store a credential is checked against (the key store for API keys; for an OAuth token,
the issuer's signing keys and the key store its subject maps into) failing to answer is
`Unavailable` (503-style, retry later) at every door, never `Unauthenticated`: a store outage
must not look like a bad key, or clients throw a valid credential away
(docs/design/store-unavailable.md). Every door (REST, OpenAI, admin API, console, MCP, A2A,
stdio) authenticates through `authenticate`, so this is the one place that decides it.
"""

from __future__ import annotations

import hmac
import logging

from toolwire.core.errors import ToolwireError, Unauthenticated, Unavailable
from toolwire.core.model import Principal
from toolwire.core.ports import KeyStore, TokenVerifier
from toolwire.core.scopes import ScopeSet

log = logging.getLogger("toolwire.auth")


class Authenticator:
    def __init__(
        self,
        keys: KeyStore,
        *,
        admin_key: str | None = None,
        admin_account_id: str = "",
        tokens: TokenVerifier | None = None,
    ) -> None:
        self.keys = keys
        self.tokens = tokens
        self._admin_key = admin_key.encode() if admin_key else None
        self._admin = Principal(
            key_id="admin",
            account_id=admin_account_id,
            scopes=ScopeSet(["*"]),
            is_admin=True,
            name="TOOLWIRE_ADMIN_KEY",
        )

    async def authenticate(self, raw_key: str | None) -> Principal:
        """The principal of `raw_key`. Raises `Unauthenticated` (no key, unknown or revoked
        key, bad token) or `Unavailable` (the key store, or a token's signing keys or mapped key,
        could not be read; the cause's type is logged, never its text, never sent)."""
        if not raw_key:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        if self._admin_key is not None and hmac.compare_digest(raw_key.encode(), self._admin_key):
            return self._admin
        try:
            if self.tokens is not None and _looks_like_jwt(raw_key):
                return await self.tokens.principal(raw_key)
            principal = await self.keys.authenticate(raw_key)
        except ToolwireError:
            raise
        except Exception as exc:
            # The core cannot name the driver's errors (it imports none): whatever the store
            # raised, the caller's credential was not judged, so the answer is "retry later".
            log.warning("the credential store could not be reached: %s", type(exc).__name__)
            raise Unavailable from exc
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return principal


def _looks_like_jwt(raw: str) -> bool:
    return not raw.startswith("tw_") and raw.count(".") == 2
