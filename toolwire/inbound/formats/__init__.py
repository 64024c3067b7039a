"""Tool definitions in each platform's own format, from one catalog, and calls mapped back.

`?format=` is one of `FORMATS`: `mcp`, `openai` (Chat Completions), `openai-responses`,
`anthropic`, `gemini`. Every definition a format serves passes that vendor's documented rules
(`vendors.py`): names are spelled through `toolwire.core.names`; schemas are rebuilt from each
vendor's allow-list of keywords (`schema.py`); a property key a vendor refuses is renamed
reversibly (`keys.py`), and `inbound()` maps names and arguments a model sends back to the
operation and its own argument shape. Definitions are computed once per catalog and format
(`render.py`). What this package is not: the doors that serve or receive them (`rest.py`,
`openai.py`, `mcp/`).
"""

from __future__ import annotations

from toolwire.inbound.formats.definitions import Definition, catalog_entry, describe, mcp
from toolwire.inbound.formats.render import FORMATS, FormatView, inbound, render, view

__all__ = [
    "FORMATS",
    "Definition",
    "FormatView",
    "catalog_entry",
    "describe",
    "inbound",
    "mcp",
    "render",
    "view",
]
