"""The compiled catalog: every tool and operation, with its validator and price, ready for O(1) use.

A catalog is built once from declarations (built-in tools, the YAML config, adapters) and never
mutated: a reload builds a new one and swaps it in. Building is where schemas are made JSON-safe
and checked against their metaschema and names checked, so nothing on the call path parses
anything; only an operation's fast validator is generated on its first call (`compile_validator`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import fastjsonschema
import jsonschema
import orjson

from toolwire.core import names
from toolwire.core.errors import InvalidArguments, ToolNotFound
from toolwire.core.jsonsafe import json_safe, safe_text
from toolwire.core.pins import PinPolicy, UpstreamToolDefinition
from toolwire.core.policy import Policy
from toolwire.core.ports import Adapter
from toolwire.core.ratelimits import LimitRules

ChargePolicy = Literal["success", "always"]

_MODERN_DIALECTS = (
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
)


_DEFAULT_VALIDATOR = jsonschema.Draft202012Validator


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
    definition: Mapping[str, Any] | None = None
    """The upstream's own definition of this operation, as it sent it (a federated MCP tool:
    name, title, description, inputSchema, outputSchema, annotations, icons, `_meta`), before
    any renaming or override; what a definition pin hashes. None for operations defined here."""
    category: str | None = None
    """This operation's category when it differs from its tool's (None: the tool's)."""
    upstream: str | None = None
    """The upstream it reaches, by its config name (audit records, metrics); None: built in."""
    audit_arguments: bool = False
    """Keep the call's arguments (redacted) in its audit record; off: only their digest."""
    origin: UpstreamToolDefinition | None = None
    """The upstream's own definition of this operation, when its upstream reports one: what
    pinning hashes (`toolwire.core.pins`). None for built-ins and declared tools."""
    pin_policy: PinPolicy = field(default_factory=PinPolicy)


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
    definition: Mapping[str, Any] | None = None
    origin: UpstreamToolDefinition | None = field(default=None, compare=False)
    pin_policy: PinPolicy = field(default_factory=PinPolicy)
    upstream: str | None = None
    audit_arguments: bool = False
    qualified: str = field(init=False, repr=False, compare=False)
    """``tool.operation`` (or ``tool`` for a single-operation tool: `names.qualified`), made
    once here: the call path reads it several times per call."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "qualified", names.qualified(self.tool, self.name))

    def external(self, fmt: names.Format) -> str:
        return names.external(self.tool, self.name, fmt)


class Catalog:
    """An immutable, ordered set of operations with look-up by any accepted name."""

    def __init__(
        self,
        tools: Iterable[ToolSpec],
        *,
        policy: Policy | None = None,
        limits: LimitRules | None = None,
    ) -> None:
        self.policy = policy or Policy()
        """The catalog's `policy` section (checked in steps 4 and 8 of the call path)."""
        self.limits = limits or LimitRules()
        """The catalog's `limits` section (the rate-limit admission check reads it per call)."""
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


def check_input_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` made JSON-safe (`jsonsafe.json_safe`) and checked the way `Catalog` compiles it:
    an object schema its validator accepts. Raises `ValueError` with the reason. Adapters that
    decide whether to expose an operation (the OpenAPI import) call this same function, so what
    they expose always compiles."""
    safe = json_safe(schema)
    if not isinstance(safe, dict) or safe.get("type") != "object":
        raise ValueError("input schema must have type 'object'")
    validator = jsonschema.validators.validator_for(safe, default=_DEFAULT_VALIDATOR)
    parts: list[tuple[tuple[str, ...], Any]] = [((), safe)]
    if validator is _DEFAULT_VALIDATOR:
        # 2020-12 checks each `properties` and `$defs` entry on its own against the metaschema:
        # check them one by one, so that what operations share is checked once.
        shallow = {k: v for k, v in safe.items() if k not in ("$defs", "properties")}
        parts = [((), shallow)]
        for key in ("properties", "$defs"):
            entries = safe.get(key)
            if isinstance(entries, dict):
                parts.extend(((key, name), sub) for name, sub in entries.items())
            elif key in safe:
                parts.append(((), {key: entries}))
    try:
        for prefix, part in parts:
            at = prefix
            _check_once(validator, part)
    except jsonschema.SchemaError as exc:
        where = "/".join([*at, *(str(p) for p in exc.absolute_path)]) or "(top level)"
        raise ValueError(
            f"the validator cannot compile its schema at {where}: {exc.message}"
        ) from None
    except RecursionError:
        raise ValueError("its schema nests too deeply to compile") from None
    return safe


_CHECKED: set[bytes] = set()
_MAX_CHECKED = 65_536


def _check_once(validator: Any, schema: Any) -> None:
    """`validator.check_schema(schema)`, skipped for content already checked (by digest): a
    metaschema check costs milliseconds, and an import's plan and the catalog check the same
    schemas, many operations sharing their `$defs`."""
    data = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    key = validator.__name__.encode() + hashlib.blake2b(data, digest_size=16).digest()
    if key in _CHECKED:
        return
    validator.check_schema(schema)
    if len(_CHECKED) >= _MAX_CHECKED:
        _CHECKED.clear()
    _CHECKED.add(key)


def _compile(tool: ToolSpec, spec: OperationSpec) -> Operation:
    try:
        schema = check_input_schema(spec.input_schema)
    except ValueError as exc:
        raise ValueError(f"{tool.name}.{spec.name}: {exc}") from None
    if spec.price < 0:
        raise ValueError(f"{tool.name}.{spec.name}: price must not be negative")
    origin = spec.origin
    if origin is None and spec.definition is not None and spec.pin_policy.mode != "off":
        origin = UpstreamToolDefinition.from_mcp(tool.name, spec.definition)  # a federated tool
    return Operation(
        tool=tool.name,
        name=spec.name,
        category=safe_text(spec.category or tool.category),
        description=safe_text(spec.description),
        tool_description=safe_text(tool.description),
        input_schema=schema,
        output_schema=None if spec.output_schema is None else json_safe(spec.output_schema),
        annotations=_safe_annotations(spec.annotations),
        price=spec.price,
        charge_policy=spec.charge_policy,
        timeout=spec.timeout,
        adapter=spec.adapter,
        title=None if spec.title is None else safe_text(spec.title),
        validate=compile_validator(schema),
        credentials=dict(spec.credentials),
        byok_fee=spec.byok_fee,
        definition=spec.definition,
        origin=origin,
        pin_policy=spec.pin_policy,
        upstream=spec.upstream or (None if origin is None else origin.upstream),
        audit_arguments=spec.audit_arguments,
    )


def _safe_annotations(annotations: Annotations) -> Annotations:
    if annotations.title is None:
        return annotations
    return dataclasses.replace(annotations, title=safe_text(annotations.title))


def compile_validator(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """A validator for `schema` (checked by `check_input_schema`): fastjsonschema when it
    handles the dialect (fast, first error only), with `jsonschema` run afterwards on failure
    to report every failing path. The fast validator's code is generated on the operation's
    first call, not when the catalog is built: a large OpenAPI import has a thousand
    operations, most never called, and generating them all took seconds at every start."""
    dialect = str(schema.get("$schema", ""))
    full = jsonschema.validators.validator_for(schema, default=_DEFAULT_VALIDATOR)
    checker = full(schema, format_checker=None)
    compiled: list[Callable[[Any], Any] | None] = []
    if dialect.startswith(_MODERN_DIALECTS):
        compiled.append(None)

    def fast() -> Callable[[Any], Any] | None:
        if not compiled:
            try:
                compiled.append(fastjsonschema.compile(dict(schema)))
            except Exception:  # its definition errors, bad regexes, deep nesting: jsonschema
                compiled.append(None)
        return compiled[0]

    def report(value: Any) -> InvalidArguments:
        errors = [
            {"path": _pointer(err), "message": err.message}
            for err in sorted(checker.iter_errors(value), key=lambda e: list(e.absolute_path))
        ]
        return InvalidArguments(details={"errors": errors or [{"path": "/", "message": "invalid"}]})

    def validate(value: Any) -> Any:
        fast_fn = fast()
        if fast_fn is None:
            if not checker.is_valid(value):
                raise report(value)
            return value
        try:
            return fast_fn(value)
        except fastjsonschema.JsonSchemaValueException:
            raise report(value) from None

    return validate


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
