"""Each vendor's documented rules for a tool definition, written from the vendors' docs and
error messages (not from toolwire's code), and each vendor SDK's own types.

`violations(fmt, definition)` lists every rule a definition breaks, as readable strings;
`sdk_check(fmt, definition)` validates it with the vendor SDK's types and raises if they refuse.
Sources: OpenAI function calling and Structured Outputs guides, and the API's errors ("array
schema missing items", "object schema missing properties", "string_above_max_length" for a
description over 1024); Anthropic tool use docs and the API's "Property keys should match pattern
'^[a-zA-Z0-9_.-]{1,64}$'" and "input_schema does not support oneOf, allOf, or anyOf at the top
level"; the Gemini API function calling and JSON Schema docs and Vertex AI's FunctionDeclaration
reference; MCP 2025-11-25 (tool names, `inputSchema` an object schema).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
from anthropic.types import ToolParam
from google.genai import types as genai
from mcp import types as mcp_types
from openai.types.chat import ChatCompletionToolParam
from openai.types.responses import FunctionToolParam
from pydantic import TypeAdapter

FORMATS = ("mcp", "openai", "openai-responses", "anthropic", "gemini")

NAME = {
    "mcp": re.compile(r"^[A-Za-z0-9_.-]{1,128}$"),
    "openai": re.compile(r"^[a-zA-Z0-9_-]{1,64}$"),
    "anthropic": re.compile(r"^[a-zA-Z0-9_-]{1,64}$"),
    "gemini": re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$"),
}
KEY = {
    "anthropic": re.compile(r"^[a-zA-Z0-9_.-]{1,64}$"),
    "gemini": re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"),
}
_JSON = {"type", "description", "properties", "required", "additionalProperties", "items", "enum"}
KEYWORDS = {
    # Structured Outputs "Supported schemas" (+ `$defs`/`$ref`, `anyOf`).
    "openai": _JSON
    | {"const", "anyOf", "$ref", "$defs", "pattern", "format", "multipleOf", "maximum"}
    | {"exclusiveMaximum", "minimum", "exclusiveMinimum", "minItems", "maxItems"},
    # Tool use / structured outputs "JSON Schema support".
    "anthropic": _JSON
    | {"const", "anyOf", "allOf", "$ref", "$defs", "title", "default", "format", "pattern"}
    | {"minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    | {"multipleOf", "minItems", "maxItems", "uniqueItems"},
    # Gemini "JSON Schema support" list, as far as google-genai's JSONSchema model has it too.
    "gemini": _JSON
    | {"$ref", "$defs", "anyOf", "title", "format", "minItems", "maxItems", "minimum", "maximum"},
}
FORMAT_VALUES = {
    "openai": {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6"}
    | {"uuid"},
    "anthropic": {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4"}
    | {"ipv6", "uuid"},
    "gemini": {"date-time", "date", "time", "int32", "int64", "float", "double"},
}
DESCRIPTION_MAX = {"openai": 1024}
ROOT_FORBIDDEN = {"anyOf", "oneOf", "allOf", "enum", "not", "const"}
ENUM_MAX = 1000
SDK: dict[str, Any] = {
    "openai": TypeAdapter(ChatCompletionToolParam),
    "openai-responses": TypeAdapter(FunctionToolParam),
    "anthropic": TypeAdapter(ToolParam),
}


def vendor(fmt: str) -> str:
    return "openai" if fmt.startswith("openai") else fmt


def parts(fmt: str, definition: dict[str, Any]) -> tuple[str, str, Any]:
    """(name, description, schema) of a definition in `fmt`."""
    if fmt == "openai":
        fn = definition["function"]
        return fn["name"], fn.get("description", ""), fn["parameters"]
    field = {
        "mcp": "inputSchema",
        "openai-responses": "parameters",
        "anthropic": "input_schema",
        "gemini": "parametersJsonSchema",
    }[fmt]
    return definition["name"], definition.get("description", ""), definition[field]


def sdk_check(fmt: str, definition: dict[str, Any]) -> None:
    """Validate with the vendor SDK's own types; raises pydantic.ValidationError if refused."""
    if fmt == "mcp":
        mcp_types.Tool.model_validate(definition)
    elif fmt == "gemini":
        genai.FunctionDeclaration.model_validate(definition)
        genai.JSONSchema.model_validate(definition["parametersJsonSchema"])
    else:
        SDK[fmt].validate_python(definition)


def violations(fmt: str, definition: dict[str, Any]) -> list[str]:
    name, description, schema = parts(fmt, definition)
    who = vendor(fmt)
    found = []
    if not NAME[who].fullmatch(name):
        found.append(f"name {name!r}")
    if who in DESCRIPTION_MAX and len(description) > DESCRIPTION_MAX[who]:
        found.append(f"description of {len(description)} characters")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return [*found, "root is not an object schema"]
    dialect = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    dialect.check_schema(schema)
    if fmt == "mcp":
        return found
    found += [f"root has {w}" for w in sorted(ROOT_FORBIDDEN & set(schema))]
    if who == "openai" and "properties" not in schema:
        found.append("root object has no properties")
    defs = schema.get("$defs", {})
    for path, node in _nodes(schema):
        found += [f"{path}: {problem}" for problem in _node_problems(who, node, defs)]
    return found


def _node_problems(who: str, node: Any, defs: dict[str, Any]) -> Iterator[str]:
    if not isinstance(node, dict):
        yield f"schema is {node!r}, not an object"
        return
    for word in sorted(set(node) - KEYWORDS[who]):
        yield f"keyword {word!r}"
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "array" in types and "items" not in node:
        yield "array without items"
    if "items" in node and not isinstance(node["items"], dict):
        yield "items is not one schema"
    if who == "openai" and "object" in types and "properties" not in node:
        yield "object without properties"
    if "format" in node and node["format"] not in FORMAT_VALUES[who]:
        yield f"format {node['format']!r}"
    ref = node.get("$ref")
    if ref is not None and (
        not ref.startswith("#/$defs/") or ref.removeprefix("#/$defs/") not in defs
    ):
        yield f"$ref {ref!r} is not into $defs"
    enum = node.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not enum or len(enum) > ENUM_MAX:
            yield "enum empty or too long"
        elif who == "gemini" and not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in enum
        ):
            yield "enum of other than strings and numbers"
    keys = KEY.get(who)
    for key in node.get("properties", {}) if keys else ():
        if not keys.fullmatch(key):  # type: ignore[union-attr]
            yield f"property key {key!r}"


def _nodes(schema: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every sub-schema of `schema` (at any depth), with a JSON-pointer-like path."""
    yield path, schema
    if not isinstance(schema, dict):
        return
    for word in ("properties", "$defs"):
        for key, sub in (schema.get(word) or {}).items():
            yield from _nodes(sub, f"{path}/{word}/{key}")
    for word in ("items", "additionalProperties"):
        if isinstance(schema.get(word), dict):
            yield from _nodes(schema[word], f"{path}/{word}")
    for word in ("anyOf", "allOf", "oneOf", "prefixItems"):
        for i, sub in enumerate(schema.get(word) or []):
            yield from _nodes(sub, f"{path}/{word}/{i}")
