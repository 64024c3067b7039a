"""One sealing helper: AES-256-GCM under a key derived (HKDF-SHA256) from the gateway secret.

What it is: `Sealer(master, purpose)`, with `seal(plain, aad) -> nonce || ciphertext+tag` and
`open(sealed, aad) -> plain` (raises `SealError`). Each purpose (the credential vault, BYOK
credentials, MCP session ids) derives its own key from the same 32-byte secret through the HKDF
`info` string, so a token of one purpose never opens as another; the associated data (AAD) binds
a ciphertext to its name (a secret's name, an account and provider, a protocol label).
Specs: AES-GCM, NIST SP 800-38D (96-bit random nonces); HKDF, RFC 5869.

What it is not: a token format or storage. `toolwire.vault.crypto` (``v1.<b64>`` secrets),
`toolwire.store.byok` and `toolwire.inbound.mcp.sessions` (``tws1.<b64>`` ids) frame the bytes.
It imports nothing from toolwire, so vault, store and doors can all use it without a cycle.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
"""A 96-bit random nonce, the size SP 800-38D recommends, prefixed to every sealed value."""
SECRET_BYTES = 32
"""The gateway secret (TOOLWIRE_SECRET_KEY) is 32 bytes."""

VAULT = b"toolwire credential vault v1"
MCP_SESSION = b"toolwire mcp session"
CONSOLE_SESSION = b"toolwire console session"
"""HKDF `info` strings: one per purpose. They are fixed: changing one invalidates every value
sealed under it (BYOK shares the vault's, as it always has)."""


class SealError(ValueError):
    """A sealed value does not open: another secret, another purpose or AAD, or corrupted."""


def derive_key(master: bytes, purpose: bytes) -> bytes:
    """The 32-byte key of `purpose` from the 32-byte gateway secret; `SealError` otherwise."""
    if len(master) != SECRET_BYTES:
        raise SealError(f"the gateway secret must be {SECRET_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class Sealer:
    """Encrypts and authenticates values for one purpose, each bound to its AAD."""

    def __init__(self, master: bytes, purpose: bytes) -> None:
        self._aead = AESGCM(derive_key(master, purpose))

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        """`nonce || ciphertext+tag` (12 + len(plain) + 16 bytes)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """The plain bytes of `seal(plain, aad)`; `SealError` when it does not authenticate."""
        if len(sealed) < NONCE_BYTES + 16:
            raise SealError("sealed value too short")
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise SealError("sealed value does not authenticate") from None


TOKEN_VERSION = "v1"


class TokenSealer:
    """Strings sealed as ``v1.<urlsafe base64 of nonce || ciphertext+tag>``, each bound to a
    name (the AAD): the stored format of vault secrets and BYOK credentials."""

    def __init__(self, master: bytes, purpose: bytes = VAULT) -> None:
        self._sealer = Sealer(master, purpose)

    def seal(self, name: str, value: str) -> str:
        sealed = self._sealer.seal(value.encode("utf-8"), name.encode("utf-8"))
        return f"{TOKEN_VERSION}.{base64.urlsafe_b64encode(sealed).decode('ascii')}"

    def open(self, name: str, token: str) -> str:
        """The value sealed under `name`; `SealError` for another format, secret or name."""
        version, _, body = token.partition(".")
        if version != TOKEN_VERSION:
            raise SealError(f"secret {name!r}: unknown format {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return self._sealer.open(raw, name.encode("utf-8")).decode("utf-8")
        except ValueError:  # SealError, bad base64, bad UTF-8
            raise SealError(
                f"secret {name!r} cannot be decrypted: was it set under another "
                "TOOLWIRE_SECRET_KEY?"
            ) from None
