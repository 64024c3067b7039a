"""`toolwire.sealing`: the one AES-GCM helper the vault, BYOK and MCP session ids share."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from toolwire import sealing
from toolwire.vault.crypto import Sealer as VaultSealer
from toolwire.vault.crypto import VaultError

SECRET = bytes(range(32))


def test_a_value_opens_only_with_its_secret_purpose_and_aad() -> None:
    vault = sealing.Sealer(SECRET, sealing.VAULT)
    sealed = vault.seal(b"value", b"name")

    assert vault.open(sealed, b"name") == b"value"
    assert len(sealed) == sealing.NONCE_BYTES + len(b"value") + 16
    for other, aad in (
        (sealing.Sealer(SECRET, sealing.MCP_SESSION), b"name"),
        (sealing.Sealer(os.urandom(32), sealing.VAULT), b"name"),
        (vault, b"other name"),
    ):
        with pytest.raises(sealing.SealError):
            other.open(sealed, aad)
    with pytest.raises(sealing.SealError):
        vault.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"name")
    with pytest.raises(sealing.SealError):
        vault.open(b"short", b"name")


@pytest.mark.parametrize("secret", [b"", b"x" * 31, b"x" * 33])
def test_the_gateway_secret_must_be_32_bytes(secret: bytes) -> None:
    with pytest.raises(sealing.SealError):
        sealing.Sealer(secret, sealing.VAULT)
    with pytest.raises(VaultError):
        VaultSealer(secret)


def test_vault_and_byok_tokens_keep_one_format_and_open_each_other() -> None:
    """Rows written before the helper existed still open: same key derivation, same framing."""
    byok = sealing.TokenSealer(SECRET)
    vault = VaultSealer(SECRET)
    token = vault.seal("byok/acc_1/openai", "sk-123")

    assert token.startswith("v1.")
    assert byok.open("byok/acc_1/openai", token) == "sk-123"
    assert vault.open("n", byok.seal("n", "v")) == "v"
    with pytest.raises(VaultError, match="TOOLWIRE_SECRET_KEY"):
        vault.open("another", token)
    with pytest.raises(sealing.SealError, match="unknown format"):
        byok.open("n", "v2.abc")


def test_store_and_vault_import_each_other_no_longer() -> None:
    """The store <-> vault cycle is gone: BYOK seals without importing the vault package."""
    code = (
        "import sys, toolwire.store.byok; "
        "assert 'toolwire.vault' not in sys.modules, sorted(m for m in sys.modules if 'vault' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mcp_session_ids_are_sealed_by_the_same_helper_under_their_own_key() -> None:
    import base64

    from toolwire.inbound.mcp.sessions import TOKEN_PREFIX, SessionSealer

    token = SessionSealer(SECRET, ttl_s=60).seal(
        SessionSealer(SECRET, ttl_s=60).new("2025-11-25", "key_1")
    )
    body = token.removeprefix(TOKEN_PREFIX)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))

    assert sealing.Sealer(SECRET, sealing.MCP_SESSION).open(raw, b"toolwire mcp session v1")
    with pytest.raises(sealing.SealError):
        sealing.Sealer(SECRET, sealing.VAULT).open(raw, b"toolwire mcp session v1")
