"""One operation as a tool definition in each platform's own shape.

Each function takes the operation, the name that format shows and the schema already rebuilt for
the vendor (`schema.normalise`); `render.py` supplies both and caches the result per catalog.
Prices are stated in descriptions (no format has a field for them) and in `GET /api/v1/tools`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toolwire.core.catalog import Operation
from toolwire.core.model import micro_to_credits

Definition = dict[str, Any]
Builder = Callable[[Operation, str, str, Mapping[str, Any]], Definition]
ELLIPSIS = "…"


def describe(op: Operation, limit: int | None = None) -> str:
    """The description a model reads: the operation's, then its price when it has one; cut to
    `limit` characters (keeping the price) for a vendor that caps it."""
    text = op.description.strip() or op.tool_description.strip()
    price = ""
    if op.price:
        unit = "credit" if op.price == 1_000_000 else "credits"
        price = f"\n\nPrice: {micro_to_credits(op.price)} {unit} per call."
    if limit is not None and len(text) + len(price) > limit:
        text = text[: max(limit - len(price) - len(ELLIPSIS), 0)].rstrip() + ELLIPSIS
    return text + price


def catalog_entry(op: Operation) -> Definition:
    """toolwire's own description of an operation, as `GET /api/v1/tools` shows it."""
    return {
        "name": op.qualified,
        "tool": op.tool,
        "operation": op.name,
        "title": op.title,
        "category": op.category,
        "description": op.description,
        "tool_description": op.tool_description,
        "input_schema": op.input_schema,
        "output_schema": op.output_schema,
        "annotations": op.annotations.to_mcp(),
        "price": micro_to_credits(op.price),
        "charge_policy": op.charge_policy,
    }


def mcp(op: Operation) -> Definition:
    """An MCP `Tool`: the schema as declared (MCP takes JSON Schema 2020-12 as it is)."""
    definition: Definition = {
        "name": op.external("mcp"),
        "description": describe(op),
        "inputSchema": op.input_schema,
    }
    if op.title:
        definition["title"] = op.title
    if op.output_schema is not None:
        definition["outputSchema"] = op.output_schema
    annotations = op.annotations.to_mcp()
    if annotations:
        definition["annotations"] = annotations
    return definition


def openai(op: Operation, name: str, description: str, schema: Mapping[str, Any]) -> Definition:
    """Chat Completions `tools[]` entry."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


def openai_responses(
    op: Operation, name: str, description: str, schema: Mapping[str, Any]
) -> Definition:
    """Responses API `tools[]` entry (flat; `strict` is required by the type, and off: strict
    mode would make every property required)."""
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": schema,
        "strict": False,
    }


def anthropic(op: Operation, name: str, description: str, schema: Mapping[str, Any]) -> Definition:
    """Messages API `tools[]` entry (`ToolParam`)."""
    return {"name": name, "description": description, "input_schema": schema}


def gemini(op: Operation, name: str, description: str, schema: Mapping[str, Any]) -> Definition:
    """A `FunctionDeclaration`, its parameters in `parametersJsonSchema` (JSON Schema)."""
    return {"name": name, "description": description, "parametersJsonSchema": schema}


BUILDERS: dict[str, Builder] = {
    "openai": openai,
    "openai-responses": openai_responses,
    "anthropic": anthropic,
    "gemini": gemini,
}
"""Every format but MCP, whose definitions `mcp()` makes as they are."""
