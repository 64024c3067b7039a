"""Path segments that cannot walk the path: one check shared by every request builder.

A value placed in a path segment must never name the current or parent directory (RFC 3986 §5.2.4
dot segments) after whatever decoding a server might apply. What it is not: URL building
(`request.py`, `styles.py`).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote, unquote_to_bytes

MAX_DECODE_ROUNDS = 8
_SEPARATORS = re.compile(r"[/\\]")
_ONLY_DOTS = re.compile(r"^[.\s]*\.[.\s]*$")
_DOT_LIKE = str.maketrans({"\u3002": ".", "\uff61": "."})  # ideographic full stops


def path_segment(value: str) -> str:
    """`value` percent-encoded as one path segment (RFC 3986 §3.3; every reserved character,
    `/` included, encoded). Raises `ValueError` when the value is empty, or when it could name
    the current or parent directory (RFC 3986 §5.2.4 dot segments) after whatever decoding a
    server might apply: percent-decoding once or repeatedly (`%2e`, `%252E`, mixed case),
    overlong UTF-8 (`%c0%ae`), Unicode compatibility forms (NFKC: full-width U+FF0E, U+2025), `\\`
    as a separator, and trailing dots or spaces that some file systems drop (`...`, `.. `).
    Shared by every request builder (hand-written templates and OpenAPI path parameters)."""
    if value == "":
        raise ValueError("a path segment cannot be empty")
    if is_dot_segment(value):
        raise ValueError("a path segment cannot be '.' or '..' in any encoding")
    return quote(value, safe="")


def is_dot_segment(text: str) -> bool:
    """Whether `text` (a raw or encoded segment) could name `.` or `..` after any decoding above."""
    forms = _decodings(text)
    return any(_ONLY_DOTS.match(part) for form in forms for part in _SEPARATORS.split(form))


def _decodings(value: str) -> list[str]:
    """`value` and each form a server might decode it to."""
    found: list[str] = []
    current = value
    for _ in range(MAX_DECODE_ROUNDS):
        for form in (current, _lenient_utf8(unquote_to_bytes(current))):
            normal = unicodedata.normalize("NFKC", form).translate(_DOT_LIKE)
            found.extend((form, normal))
        decoded = unquote(current, errors="replace")
        if decoded == current:
            break
        current = decoded
    return found


def _lenient_utf8(data: bytes) -> str:
    """UTF-8 as a lax decoder reads it: overlong forms of ASCII (`C0 AE` -> `.`) accepted."""
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        if byte in (0xC0, 0xC1) and i + 1 < len(data):
            out.append(chr(((byte & 0x1F) << 6) | (data[i + 1] & 0x3F)))
            i += 2
        elif byte == 0xE0 and i + 2 < len(data) and data[i + 1] < 0xA0:
            out.append(chr(((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)))
            i += 3
        else:
            out.append(data[i : i + 1].decode("utf-8", "replace"))
            i += 1
    return "".join(out)
