"""Text from upstreams, made safe to carry: JSON that a strict parser refuses over one bad
character, and strings no encoder can write.

What it is: `load_json(body)`, which parses an upstream's JSON body leniently where only the
characters are wrong (invalid UTF-8 bytes, a lone UTF-16 surrogate escape such as `\\ud83d`,
a byte-order mark) and puts U+FFFD in their place, as the WHATWG Encoding Standard's decoder does;
`clean(value)`, which does the same for any string inside JSON-like data; and `decode(raw)`, the
same for bytes that should be UTF-8 text (a database's TEXT value). A result with a
lone surrogate could otherwise be refused by every door's JSON encoder. What it is not: a
repair of JSON *syntax*: a body that is not JSON stays an error.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(body: bytes) -> Any:
    """The JSON value of `body`, with invalid UTF-8 and lone surrogates replaced by U+FFFD.
    Raises `ValueError` when the body is not JSON (RFC 8259) whatever its characters."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    text = body.decode("utf-8", "replace").removeprefix("\ufeff")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return clean(data)


def decode(raw: bytes) -> str:
    """`raw` as UTF-8, with each invalid sequence (and encoded surrogate) as U+FFFD."""
    return raw.decode("utf-8", "replace")


def clean(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
