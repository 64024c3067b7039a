"""Every form a secret takes on its way through the gateway and back, as one regular expression.

What it is: `pattern(secret)`, the regex source that matches the secret raw and in each form the
gateway (or an upstream echoing it) turns it into, character by character, in any mix:

- percent-encoding (RFC 3986 §2.1, upper or lower hex, also encoded again: `%252F`), form
  encoding (`+` for a space, and a `+` that a form decoder turned into a space);
- JSON string escapes (RFC 8259 §7: `\\"`, `\\/`, `\\uXXXX` in any case, surrogate pairs), also
  escaped again (a JSON document inside a JSON string);
- HTML character references for `& < > " '`;
- base64, standard and URL-safe alphabets, padded or not (RFC 4648 §4-5), at each of the three
  byte alignments, so the secret is found inside a larger encoded value too (the `user:pass` of a
  Basic `Authorization` header, whatever the user name).

What it is not: a detector of unknown secrets, or of encryption and hashing: only transforms that
keep the value recoverable are covered.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass

MIN_BASE64_CORE = 8
"""Base64 runs shorter than this are not matched alone (they would hide ordinary text)."""

_JSON_SHORT = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r"}
_JSON_SHORT["\t"] = "t"
_HTML = {
    "&": ("&amp;", "&#38;", "&#x26;"),
    "<": ("&lt;", "&#60;", "&#x3c;"),
    ">": ("&gt;", "&#62;", "&#x3e;"),
    '"': ("&quot;", "&#34;", "&#x22;"),
    "'": ("&apos;", "&#39;", "&#x27;"),
}


def _hex(value: int, width: int) -> str:
    """`value` in hex, each letter matching either case."""
    digits = f"{value:0{width}x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char(c: str) -> str:
    forms = [re.escape(c)]
    utf8 = c.encode("utf-8", "surrogatepass")
    forms.append("".join("%(?:25)*" + _hex(b, 2) for b in utf8))
    utf16 = c.encode("utf-16-be", "surrogatepass")
    units = [int.from_bytes(utf16[i : i + 2], "big") for i in range(0, len(utf16), 2)]
    forms.append("".join(r"\\+u" + _hex(u, 4) for u in units))
    if c in _JSON_SHORT:
        forms.append(r"\\+" + re.escape(_JSON_SHORT[c]))
    if c == " ":
        forms.append(r"\+")
    if c == "+":
        forms.append(" ")
    for entity in _HTML.get(c, ()):
        forms.append(
            "".join(re.escape(e) if not e.isalpha() else f"[{e}{e.upper()}]" for e in entity)
        )
    return "(?:" + "|".join(forms) + ")"


def base64_cores(secret: str) -> list[str]:
    """The base64 characters determined by the secret's bytes alone, at each alignment and in
    both alphabets: whatever surrounds the secret when it is encoded, one of these appears."""
    raw = secret.encode("utf-8", "surrogatepass")
    found: list[str] = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        first = -(-8 * offset // 6)  # first character whose 6 bits all come from the secret
        last = (8 * offset + 8 * len(raw)) // 6
        core = encoded[first:last]
        if len(core) >= MIN_BASE64_CORE:
            found.append(core)
            found.append(core.replace("+", "-").replace("/", "_"))
    return list(dict.fromkeys(found))


UNCHANGED = re.compile(r"[A-Za-z0-9._~-]{4,}")
"""Runs of characters that percent, form, JSON and HTML encoding all leave as they are."""

ODD_ENCODING = re.compile(
    r"(?:%(?:25)*|\\+u00)(?:2[dDeE]|3[0-9]|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aAeE])"
)
"""An escape of a character that needs none (`%41`, `\\u0061`): text written to hide a value."""


@dataclass(frozen=True)
class Forms:
    """One secret's matcher: `regex` finds every form; `anchor` (if any) is a substring every
    form except base64 contains, so text without it need not be searched; `cores` are its base64
    runs, matched as they are."""

    regex: re.Pattern[str]
    anchor: str | None
    cores: tuple[str, ...]
    reach: int
    """How far, in characters, a match can extend on either side of the anchor."""


@functools.lru_cache(maxsize=4096)
def forms(secret: str) -> Forms:
    """The matcher for `secret` in every form listed in the module docstring."""
    runs = UNCHANGED.findall(secret)
    anchor = max(runs, key=len) if runs else None
    text = "".join(_char(c) for c in secret)
    reach = 64 * len(secret)  # generous: a character escaped twice over takes ~20
    return Forms(re.compile(text), anchor, tuple(base64_cores(secret)), reach)
