"""The digest an audit record keeps of a call's arguments, in place of the arguments themselves.

What it is: `arguments_digest(arguments, key)` = ``hmac-sha256:`` + 64 hex digits, HMAC-SHA256
(RFC 2104) under a per-deployment key over the arguments' canonical JSON: keys sorted, no
whitespace, UTF-8, numbers as orjson writes them (close to RFC 8785 JCS; equal for the integers,
strings and booleans tool arguments mostly hold). The same arguments give the same digest within
one deployment, so an auditor can tell "these two calls had the same input" and, holding an
input, confirm it was the one sent; keyed, so a low-entropy argument (a PIN, a short secret)
cannot be recovered from a stored row by trying candidates without the gateway's secret.

What it is not: encryption (the arguments cannot be read back) nor a stable cross-deployment id.
`key` comes from the gateway secret (`toolwire.app`, HKDF purpose ``toolwire audit digest v1``);
an empty key is allowed for tests and tools without a secret, and then it is a plain keyed hash.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

PREFIX = "hmac-sha256:"


def canonical_json(value: Any) -> bytes:
    """`value` as canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def arguments_digest(arguments: Mapping[str, Any], key: bytes) -> str:
    """``hmac-sha256:<64 hex>`` of the canonical JSON of `arguments` under `key`."""
    try:
        data = canonical_json(dict(arguments))
    except TypeError:  # validated arguments are JSON; be total anyway
        data = repr(sorted(arguments.items(), key=lambda kv: str(kv[0]))).encode()
    inner_pad, outer_pad = _pads(key)
    inner = inner_pad.copy()
    inner.update(data)
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return PREFIX + outer.hexdigest()


@functools.lru_cache(maxsize=16)
def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the key's inner and outer pads (RFC 2104 §2): HMAC-SHA256 of any
    message is then two copies and two updates (the pads are hashed once per key, not per
    call; the same digest as `hmac.digest(key, data, "sha256")`, at half its cost)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer
