"""`toolwire.core.audit.arguments_digest` is HMAC-SHA256 (RFC 2104) of the canonical JSON, as
documented (docs/audit.md): the same digest the standard library's `hmac` gives, for every key
length (empty, short, a full block, longer than a block, which HMAC hashes first)."""

from __future__ import annotations

import hmac

import pytest

from toolwire.core.audit import PREFIX, arguments_digest, canonical_json

ARGUMENTS = [
    {},
    {"message": "hello"},
    {"b": 1, "a": [1, 2, {"z": None, "y": "é"}], "c": True},
    {"big": "x" * 10_000},
]


@pytest.mark.parametrize("key", [b"", b"k", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(200))])
@pytest.mark.parametrize("arguments", ARGUMENTS)
def test_the_digest_is_hmac_sha256_of_the_canonical_json(key: bytes, arguments: dict) -> None:
    expected = hmac.digest(key, canonical_json(arguments), "sha256").hex()
    assert arguments_digest(arguments, key) == PREFIX + expected


def test_key_order_does_not_change_the_digest_and_the_key_does() -> None:
    one = arguments_digest({"a": 1, "b": 2}, b"key")
    assert one == arguments_digest({"b": 2, "a": 1}, b"key")
    assert one != arguments_digest({"a": 1, "b": 2}, b"other")
    assert one != arguments_digest({"a": 1, "b": 3}, b"key")
