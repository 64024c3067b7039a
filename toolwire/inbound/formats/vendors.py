"""What each vendor accepts in a tool definition, as data: the allow-lists the normaliser rebuilds
schemas from, and the name and size limits.

Sources (checked 2026-11):

- OpenAI (Chat Completions `tools[].function`, Responses `tools[]`): function name
  `^[a-zA-Z0-9_-]{1,64}$` (the SDK's `FunctionDefinition.name`); `description` at most 1024
  characters (the API's `string_above_max_length`); `parameters` an object schema, with no
  `anyOf`/`oneOf`/`allOf`/`enum`/`not` at the root, every array with `items` ("array schema
  missing items"), every object with `properties` ("object schema missing properties"); keywords
  and `format`s from the Structured Outputs "supported schemas" list; `$ref` into `$defs`.
- Anthropic (`ToolParam`): name `^[a-zA-Z0-9_-]{1,64}$`; `input_schema` with `type: object` and no
  `oneOf`/`anyOf`/`allOf` at the root; property keys `^[a-zA-Z0-9_.-]{1,64}$` (the API's "Property
  keys should match pattern"); keywords and formats from the JSON Schema support list of the tool
  use and structured outputs docs; `$ref` into `$defs`.
- Gemini (`FunctionDeclaration.parametersJsonSchema`): name starts with a letter or `_`, then
  letters, digits, `_`, `.`, `-`, at most 64; parameter names `^[a-zA-Z_][a-zA-Z0-9_]{0,63}$`
  (Vertex AI reference); keywords: those the Gemini docs list for JSON Schema that google-genai's
  `JSONSchema` model also has (it forbids any other); `oneOf` is read as `anyOf`; `enum` holds
  strings and numbers; `$ref` into `$defs`.
- MCP (`tools/list`): names `[A-Za-z0-9_.-]{1,128}` (2025-11-25 tool names); the input schema is
  JSON Schema 2020-12 and is passed through unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Vendor = Literal["mcp", "openai", "anthropic", "gemini"]

VENDOR_OF: dict[str, Vendor] = {
    "mcp": "mcp",
    "openai": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
}
"""Each `?format=` and the vendor whose rules it follows."""

ENUM_MAX = 500
"""An `enum` longer than this is replaced by its type and a few examples in the description
(OpenAI's Structured Outputs cap 1000 values per schema; a model cannot use thousands anyway)."""

REF_INLINE_DEPTH = 4
"""How many times one `$ref` that must be inlined (it has sibling constraints, or the vendor has
no `$defs`) is inlined inside itself before it becomes an open schema; it ends `$ref` cycles."""

MAX_DEPTH = 24
"""Nesting deeper than this is described as an open schema."""

INLINE_BUDGET = 1_000
"""At most this many schema nodes are built by inlining `$ref`s for one operation; past it a
`$ref` becomes an open schema (chains of references fan out exponentially when inlined)."""


@dataclass(frozen=True, slots=True)
class Rules:
    vendor: Vendor
    name: re.Pattern[str]
    key: re.Pattern[str] | None
    """Property keys must match this; None: any key."""
    key_invalid: re.Pattern[str]
    """Characters a key may not hold (replaced by `_` when a key is renamed)."""
    key_start: re.Pattern[str] | None
    """A key must start with a match of this (else `_` is put first)."""
    keywords: frozenset[str]
    formats: frozenset[str]
    description_max: int | None
    refs: bool
    """`$ref` into `#/$defs/...` allowed."""
    object_properties: bool
    """Every object schema must carry `properties`."""
    enum_scalars_only: bool


_COMMON = frozenset(
    {"type", "description", "properties", "required", "additionalProperties", "items"}
    | {"enum", "anyOf", "$ref", "$defs", "minItems", "maxItems", "minimum", "maximum"}
)

RULES: dict[Vendor, Rules] = {
    "openai": Rules(
        vendor="openai",
        name=re.compile(r"^[a-zA-Z0-9_-]{1,64}$"),
        key=None,
        key_invalid=re.compile(r"[^a-zA-Z0-9_.-]"),
        key_start=None,
        keywords=_COMMON
        | {"const", "pattern", "format", "multipleOf", "exclusiveMinimum", "exclusiveMaximum"},
        formats=frozenset(
            {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
        ),
        description_max=1024,
        refs=True,
        object_properties=True,
        enum_scalars_only=False,
    ),
    "anthropic": Rules(
        vendor="anthropic",
        name=re.compile(r"^[a-zA-Z0-9_-]{1,64}$"),
        key=re.compile(r"^[a-zA-Z0-9_.-]{1,64}$"),
        key_invalid=re.compile(r"[^a-zA-Z0-9_.-]"),
        key_start=None,
        keywords=_COMMON
        | {"const", "allOf", "title", "default", "format", "pattern", "minLength", "maxLength"}
        | {"multipleOf", "exclusiveMinimum", "exclusiveMaximum", "uniqueItems"},
        formats=frozenset(
            {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6"}
            | {"uuid"}
        ),
        description_max=None,
        refs=True,
        object_properties=False,
        enum_scalars_only=False,
    ),
    "gemini": Rules(
        vendor="gemini",
        name=re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$"),
        key=re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"),
        key_invalid=re.compile(r"[^a-zA-Z0-9_]"),
        key_start=re.compile(r"^[a-zA-Z_]"),
        keywords=_COMMON | {"title", "format"},
        formats=frozenset({"date-time", "date", "time", "int32", "int64", "float", "double"}),
        description_max=None,
        refs=True,
        object_properties=False,
        enum_scalars_only=True,
    ),
}
"""The rules of each vendor whose schemas are rebuilt (MCP's are passed through)."""

MCP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
