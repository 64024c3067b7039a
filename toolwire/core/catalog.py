"""The compiled catalog: every tool and operation, with its validator and price, ready for O(1) use.

A catalog is built once from declarations (built-in tools, the YAML config, adapters) and never
mutated: a reload builds a new one and swaps it in. Building is where schemas are compiled and names
checked, so nothing on the call path parses or compiles anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import fastjsonschema
import jsonschema

from toolwire.core import names
from toolwire.core.errors import InvalidArguments, ToolNotFound
from toolwire.core.ports import Adapter

ChargePolicy = Literal["success", "always"]

_MODERN_DIALECTS = (
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
)


@dataclass(frozen=True, slots=True)
class Annotations:
    """MCP tool annotations: hints for clients, never trusted for security."""

    title: str | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None

    def to_mcp(self) -> dict[str, Any]:
        pairs = {
            "title": self.title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }
        return {k: v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """What an adapter or the config declares about one operation, before compilation."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    adapter: Adapter
    output_schema: Mapping[str, Any] | None = None
    annotations: Annotations = Annotations()
    price: int = 0
    charge_policy: ChargePolicy = "success"
    timeout: float | None = None
    title: str | None = None
    credentials: Mapping[str, str] = field(default_factory=dict)
    """Credential slots the adapter needs, each naming a vault secret: {"token": "tavily_key"}."""
    byok_fee: int = 0
    """What a call costs when it runs on the caller's own credential (BYOK) instead of `price`."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as declared: a name, a category, a description for models, and its operations."""

    name: str
    description: str
    operations: tuple[OperationSpec, ...]
    category: str = "general"


@dataclass(frozen=True, slots=True)
class Operation:
    """One callable operation, compiled: the unit the call path resolves, prices and invokes."""

    tool: str
    name: str
    category: str
    description: str
    tool_description: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any] | None
    annotations: Annotations
    price: int
    charge_policy: ChargePolicy
    timeout: float | None
    adapter: Adapter
    title: str | None
    validate: Callable[[Any], Any] = field(repr=False, compare=False)
    credentials: Mapping[str, str] = field(default_factory=dict)
    byok_fee: int = 0

    @property
    def qualified(self) -> str:
        return names.qualified(self.tool, self.name)

    def external(self, fmt: names.Format) -> str:
        return names.external(self.tool, self.name, fmt)


class Catalog:
    """An immutable, ordered set of operations with look-up by any accepted name."""

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        ops: dict[tuple[str, str], Operation] = {}
        by_tool: dict[str, list[Operation]] = {}
        folded: set[str] = set()
        for tool in tools:
            names.check_part(tool.name, "tool")
            if tool.name in by_tool:
                raise ValueError(f"tool {tool.name!r} is declared twice")
            if tool.name.lower() in folded:  # scopes match names without regard to case
                raise ValueError(f"tool {tool.name!r} differs from another only in case")
            folded.add(tool.name.lower())
            if not tool.operations:
                raise ValueError(f"tool {tool.name!r} has no operations")
            by_tool[tool.name] = []
            for spec in tool.operations:
                names.check_part(spec.name, f"operation of {tool.name!r}")
                if (tool.name, spec.name) in ops:
                    raise ValueError(f"operation {tool.name}.{spec.name} is declared twice")
                op = _compile(tool, spec)
                ops[(tool.name, spec.name)] = op
                by_tool[tool.name].append(op)
        self._ops = dict(sorted(ops.items()))
        self._single = {t: o[0] for t, o in by_tool.items() if len(o) == 1}
        self._by_name: dict[str, Operation] = {}
        for (tool_name, op_name), op in self._ops.items():
            self._by_name[f"{tool_name}.{op_name}"] = op
            self._by_name[f"{tool_name}__{op_name}"] = op
        for tool_name, op in self._single.items():
            self._by_name[tool_name] = op

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    def resolve(self, tool: str, operation: str | None = None) -> Operation:
        """Find an operation by `tool` + `operation`, `tool.operation`, `tool__operation` or a bare
        single-operation tool name; `ToolNotFound` otherwise."""
        if operation is None:
            op = self._by_name.get(tool)
        else:
            op = self._ops.get((tool, operation))
        if op is None:
            raise self.not_found(tool, operation)
        return op

    @staticmethod
    def not_found(tool: str, operation: str | None = None) -> ToolNotFound:
        """The one `ToolNotFound` for a name as asked (also what a denied tool looks like)."""
        label = tool if operation is None else f"{tool}.{operation}"
        return ToolNotFound(f"no tool named {label!r}", details={"tool": label})

    def get(self, name: str) -> Operation | None:
        return self._by_name.get(name)

    def categories(self) -> list[str]:
        return sorted({op.category for op in self})

    def search(self, q: str | None = None, category: str | None = None) -> list[Operation]:
        """Operations whose name, description or category contains every word of `q`."""
        words = [w.lower() for w in (q or "").split()]
        found = []
        for op in self:
            if category and op.category != category:
                continue
            text = " ".join((op.qualified, op.description, op.tool_description, op.category))
            if all(w in text.lower() for w in words):
                found.append(op)
        return found


def _compile(tool: ToolSpec, spec: OperationSpec) -> Operation:
    schema = dict(spec.input_schema)
    if schema.get("type") != "object":
        raise ValueError(f"{tool.name}.{spec.name}: input schema must have type 'object'")
    if spec.price < 0:
        raise ValueError(f"{tool.name}.{spec.name}: price must not be negative")
    return Operation(
        tool=tool.name,
        name=spec.name,
        category=tool.category,
        description=spec.description,
        tool_description=tool.description,
        input_schema=schema,
        output_schema=spec.output_schema,
        annotations=spec.annotations,
        price=spec.price,
        charge_policy=spec.charge_policy,
        timeout=spec.timeout,
        adapter=spec.adapter,
        title=spec.title,
        validate=compile_validator(schema),
        credentials=dict(spec.credentials),
        byok_fee=spec.byok_fee,
    )


def compile_validator(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """A validator for `schema`: fastjsonschema when it handles the dialect (fast, first error
    only), with `jsonschema` run afterwards on failure to report every failing path."""
    dialect = str(schema.get("$schema", ""))
    full = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    full.check_schema(dict(schema))
    checker = full(schema, format_checker=None)
    fast: Callable[[Any], Any] | None = None
    if not dialect.startswith(_MODERN_DIALECTS):
        try:
            fast = fastjsonschema.compile(dict(schema))
        except fastjsonschema.JsonSchemaDefinitionException:
            fast = None

    def report(value: Any) -> InvalidArguments:
        errors = [
            {"path": _pointer(err), "message": err.message}
            for err in sorted(checker.iter_errors(value), key=lambda e: list(e.absolute_path))
        ]
        return InvalidArguments(details={"errors": errors or [{"path": "/", "message": "invalid"}]})

    if fast is not None:
        fast_fn = fast

        def validate(value: Any) -> Any:
            try:
                return fast_fn(value)
            except fastjsonschema.JsonSchemaValueException:
                raise report(value) from None

        return validate

    def validate_full(value: Any) -> Any:
        if not checker.is_valid(value):
            raise report(value)
        return value

    return validate_full


def _pointer(err: jsonschema.ValidationError) -> str:
    """A JSON pointer to what is wrong: for a missing or unexpected property, the property
    itself (`/expression`), not the object that lacks or carries it."""
    parts = [str(p) for p in err.absolute_path]
    instance: Any = err.instance
    schema: Any = err.schema
    expected: Any = err.validator_value
    if err.validator == "required" and isinstance(instance, dict) and isinstance(expected, list):
        missing = [p for p in expected if p not in instance]
        if len(missing) == 1:
            parts.append(str(missing[0]))
    elif err.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
        extra = [p for p in instance if p not in allowed]
        if len(extra) == 1 and isinstance(schema, dict) and not schema.get("patternProperties"):
            parts.append(str(extra[0]))
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
