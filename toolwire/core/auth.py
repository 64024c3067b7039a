"""Authentication: a presented key becomes a Principal, or the call stops with `Unauthenticated`.

Doors extract the raw key from their transport (Bearer header, X-API-Key, ...) and hand it here;
they never look keys up themselves. The operator's `TOOLWIRE_ADMIN_KEY`, when set, is compared in
constant time and never stored. With a `TokenVerifier` (OAuth), a bearer token shaped like a JWT
(three dot-separated parts, not `tw_...`) goes to it instead of the key store.
"""

from __future__ import annotations

import hmac

from toolwire.core.errors import Unauthenticated
from toolwire.core.model import Principal
from toolwire.core.ports import KeyStore, TokenVerifier
from toolwire.core.scopes import ScopeSet


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
        if not raw_key:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        if self._admin_key is not None and hmac.compare_digest(raw_key.encode(), self._admin_key):
            return self._admin
        if self.tokens is not None and _looks_like_jwt(raw_key):
            return await self.tokens.principal(raw_key)
        principal = await self.keys.authenticate(raw_key)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return principal


def _looks_like_jwt(raw: str) -> bool:
    return not raw.startswith("tw_") and raw.count(".") == 2
