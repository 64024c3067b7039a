"""Sealing credentials: the vault's view of `toolwire.sealing` (AES-256-GCM, HKDF-SHA256).

What it is: `Sealer.seal(name, value) -> token` and `Sealer.open(name, token) -> value`. The name is
bound as associated data, so a ciphertext copied onto another name does not open. The derived key
is specific to the vault (`toolwire.sealing.VAULT`): the same gateway secret also seals MCP session
ids, under a different derivation. Failures are `VaultError`. What it is not: storage or caching
(see `toolwire.store.secrets`, `toolwire.vault`).

Token format: ``v1.<urlsafe base64 of 12-byte nonce || ciphertext+tag>``.
"""

from __future__ import annotations

from toolwire import sealing

VERSION = sealing.TOKEN_VERSION
HKDF_INFO = sealing.VAULT
NONCE_BYTES = sealing.NONCE_BYTES


class VaultError(sealing.SealError):
    """A secret cannot be opened (wrong gateway secret, corrupted row) or a name is invalid."""


def derive_key(master: bytes) -> bytes:
    """The vault's own 32-byte key from the gateway's 32-byte secret."""
    try:
        return sealing.derive_key(master, HKDF_INFO)
    except sealing.SealError as exc:
        raise VaultError(str(exc)) from None


class Sealer(sealing.TokenSealer):
    """Encrypts and authenticates secret values, each bound to its name."""

    def __init__(self, master: bytes) -> None:
        derive_key(master)  # a VaultError for a bad secret
        super().__init__(master, HKDF_INFO)

    def open(self, name: str, token: str) -> str:
        try:
            return super().open(name, token)
        except sealing.SealError as exc:
            raise VaultError(str(exc)) from None
