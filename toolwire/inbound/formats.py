"""Tool definitions in each platform's own format, from one catalog.

Every format spells names through `toolwire.core.names`, so a name a model sends back always
resolves. Prices are stated in descriptions (no format has a field for them) and in `GET
/api/v1/tools`. Schemas are passed through as JSON Schema: OpenAI, Anthropic and Gemini
(`parametersJsonSchema`) all accept it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from toolwire.core.catalog import Operation
from toolwire.core.model import micro_to_credits

Definition = dict[str, Any]


def describe(op: Operation) -> str:
    """The description a model reads: the operation's, then its price when it has one."""
    text = op.description.strip() or op.tool_description.strip()
    if op.price:
        unit = "credit" if op.price == 1_000_000 else "credits"
        text = f"{text}\n\nPrice: {micro_to_credits(op.price)} {unit} per call."
    return text


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


def openai(op: Operation) -> Definition:
    """Chat Completions `tools[]` entry."""
    return {
        "type": "function",
        "function": {
            "name": op.external("openai"),
            "description": describe(op),
            "parameters": op.input_schema,
        },
    }


def openai_responses(op: Operation) -> Definition:
    """Responses API `tools[]` entry (flat, `strict` required by the type)."""
    return {
        "type": "function",
        "name": op.external("openai"),
        "description": describe(op),
        "parameters": op.input_schema,
        "strict": False,
    }


def anthropic(op: Operation) -> Definition:
    return {
        "name": op.external("anthropic"),
        "description": describe(op),
        "input_schema": op.input_schema,
    }


def gemini(op: Operation) -> Definition:
    """A `FunctionDeclaration`; `parametersJsonSchema` takes full JSON Schema."""
    return {
        "name": op.external("gemini"),
        "description": describe(op),
        "parametersJsonSchema": op.input_schema,
    }


RENDERERS: dict[str, Callable[[Operation], Definition]] = {
    "mcp": mcp,
    "openai": openai,
    "openai-responses": openai_responses,
    "anthropic": anthropic,
    "gemini": gemini,
}


def render(ops: Iterable[Operation], fmt: str) -> list[Definition]:
    return [RENDERERS[fmt](op) for op in ops]
