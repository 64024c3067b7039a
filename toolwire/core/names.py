"""The one place that spells tool names for each format, reversibly.

Inside the gateway an operation is `tool.operation`. MCP allows `[A-Za-z0-9_.-]`, so it keeps the
dot. OpenAI, Anthropic and Gemini function names must match `^[a-zA-Z0-9_-]{1,64}$`, so the dot
becomes `__` there. Tool and operation names themselves may not contain `__` or a dot (the catalog
refuses them), which keeps the mapping reversible. A tool with one operation named like the tool
(`echo`) is listed by its bare name.
"""

from __future__ import annotations

import re
from typing import Literal

Format = Literal["mcp", "openai", "anthropic", "gemini"]
FORMATS: tuple[Format, ...] = ("mcp", "openai", "anthropic", "gemini")

PART_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,29}$")
"""A tool or operation name: starts with a letter, at most 30 characters (so `a__b` fits in 64)."""

SEPARATORS: dict[Format, str] = {"mcp": ".", "openai": "__", "anthropic": "__", "gemini": "__"}


def check_part(name: str, what: str) -> None:
    """Refuse a tool or operation name that would break the reversible mapping."""
    if not PART_RE.match(name) or "__" in name or name.endswith("_"):
        raise ValueError(
            f"{what} name {name!r} must start with a letter, use letters, digits, '_' or '-', "
            "be at most 30 characters, and contain no '__'"
        )


def qualified(tool: str, operation: str) -> str:
    """The canonical name: `tool` for a tool's own default operation, else `tool.operation`."""
    return tool if operation == tool else f"{tool}.{operation}"


def external(tool: str, operation: str, fmt: Format) -> str:
    """The name a format's clients see for `tool.operation`."""
    return tool if operation == tool else f"{tool}{SEPARATORS[fmt]}{operation}"


def parse(name: str, fmt: Format | None = None) -> tuple[str, str | None]:
    """Split an external name into (tool, operation or None for a bare tool name).

    With no format, both separators are accepted: a name is never ambiguous because parts
    contain neither `.` nor `__`.
    """
    seps = (SEPARATORS[fmt],) if fmt else (".", "__")
    for sep in seps:
        if sep in name:
            tool, _, operation = name.partition(sep)
            return tool, operation
    return name, None
