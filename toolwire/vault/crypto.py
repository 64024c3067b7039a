"""Sealing credentials: AES-256-GCM under a key derived (HKDF-SHA256) from the gateway secret.

What it is: `Sealer.seal(name, value) -> token` and `Sealer.open(name, token) -> value`. The name is
bound as associated data, so a ciphertext copied onto another name does not open. The derived key
is specific to the vault: the same gateway secret also seals MCP session ids, under a different
derivation. What it is not: storage or caching (see `toolwire.store.secrets`, `toolwire.vault`).

Token format: ``v1.<urlsafe base64 of 12-byte nonce || ciphertext+tag>``.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
HKDF_INFO = b"toolwire credential vault v1"
NONCE_BYTES = 12


class VaultError(ValueError):
    """A secret cannot be opened (wrong gateway secret, corrupted row) or a name is invalid."""


def derive_key(master: bytes) -> bytes:
    """The vault's own 32-byte key from the gateway's 32-byte secret."""
    if len(master) != 32:
        raise VaultError("the gateway secret must be 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return hkdf.derive(master)


class Sealer:
    """Encrypts and authenticates secret values, each bound to its name."""

    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(derive_key(master))

    def seal(self, name: str, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), name.encode("utf-8"))
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, name: str, token: str) -> str:
        version, _, body = token.partition(".")
        if version != VERSION:
            raise VaultError(f"secret {name!r}: unknown format {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], name.encode())
        except (InvalidTag, ValueError):
            raise VaultError(
                f"secret {name!r} cannot be decrypted: was it set under another "
                "TOOLWIRE_SECRET_KEY?"
            ) from None
        return plain.decode("utf-8")
