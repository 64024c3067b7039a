"""Built-in tools as typed Python functions: one decorated function is one operation.

    reg = BuiltinRegistry()

    @reg.operation("calc", "evaluate", category="math", read_only=True, idempotent=True,
                   tool_description="Exact arithmetic ...")
    def evaluate(
        expression: Annotated[str, Field(description="...", max_length=1000)],
    ) -> CalcResult:
        '''Description written for models (first paragraph used).'''

The input schema comes from the parameters (pydantic builds it once, at decoration time), the
output schema from the return annotation when it is a TypedDict or a pydantic model. Nothing of
pydantic runs on the call path: the core validates the arguments with its compiled validator, and
`BuiltinAdapter.invoke` only calls the function with them.

A parameter annotated `InvokeContext` is left out of the schema and receives the call's context
(for progress reports). Async functions are awaited; sync ones run inline, or in a worker thread
when declared `blocking=True` (anything that may take more than a fraction of a millisecond).
A tool's expected failures (the caller's fault) raise `InvalidArguments` with `details`.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.errors import PydanticUserError
from typing_extensions import is_typeddict

from toolwire.core import names
from toolwire.core.catalog import Annotations, ChargePolicy, Operation, OperationSpec, ToolSpec
from toolwire.core.errors import ToolNotFound
from toolwire.core.ports import InvokeContext

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PROFILE_ATTRIBUTE = "registry"
"""The attribute a profile module exposes its registry under, unless `module:attribute` says."""


@dataclass(frozen=True, slots=True)
class BuiltinOperation:
    """One registered function with everything the catalog and the adapter need about it."""

    tool: str
    name: str
    description: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any] | None
    annotations: Annotations
    function: Callable[..., Any]
    is_async: bool
    blocking: bool
    context_param: str | None
    dump: Callable[[Any], Any] | None
    category: str | None = None
    tool_description: str | None = None
    title: str | None = None
    timeout: float | None = None
    charge_policy: ChargePolicy = "success"

    @property
    def qualified(self) -> str:
        return names.qualified(self.tool, self.name)


class BuiltinAdapter:
    """`toolwire.core.ports.Adapter` for one registry: calls the function registered for the
    operation with the arguments the core has already validated."""

    __slots__ = ("_operations",)

    def __init__(self, operations: Mapping[tuple[str, str], BuiltinOperation]) -> None:
        self._operations = operations

    async def aclose(self) -> None:
        """Built-in functions hold nothing to release."""

    async def invoke(
        self, operation: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> Any:
        op = self._operations.get((operation.tool, operation.name))
        if op is None:
            raise ToolNotFound(
                f"no built-in operation {operation.qualified!r}",
                details={"tool": operation.qualified},
            )
        kwargs = arguments if op.context_param is None else {**arguments, op.context_param: ctx}
        if op.is_async:
            result = await op.function(**kwargs)
        elif op.blocking:
            result = await asyncio.to_thread(op.function, **kwargs)
        else:
            result = op.function(**kwargs)
        return result if op.dump is None else op.dump(result)


class BuiltinRegistry:
    """An ordered set of built-in operations, grouped into tools, plus named optional profiles.

    A profile is another registry (or the dotted path of a module that holds one, imported only
    when the profile is asked for) whose tools are added by `specs(profiles=[name])`.
    """

    def __init__(self) -> None:
        self._operations: dict[tuple[str, str], BuiltinOperation] = {}
        self._tools: dict[str, tuple[str | None, str | None]] = {}
        self._profiles: dict[str, BuiltinRegistry | str] = {}
        self.adapter = BuiltinAdapter(self._operations)

    # -- declaring ----------------------------------------------------------------------------

    def operation(
        self,
        tool: str,
        name: str | None = None,
        *,
        category: str | None = None,
        tool_description: str | None = None,
        description: str | None = None,
        title: str | None = None,
        read_only: bool | None = None,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        blocking: bool = False,
        timeout: float | None = None,
        charge_policy: ChargePolicy = "success",
    ) -> Callable[[F], F]:
        """Register the decorated function as operation `name` (default: the tool's own name,
        listed bare) of `tool`. The function is returned unchanged.

        `category` and `tool_description` belong to the tool: give them on any one of its
        operations (the others may omit them, not contradict them). `description` defaults to
        the first paragraph of the docstring. `blocking=True` runs a sync function in a thread.
        """

        def register(function: F) -> F:
            op = build_operation(
                function,
                tool=tool,
                name=name or tool,
                category=category,
                tool_description=tool_description,
                description=description,
                title=title,
                annotations=Annotations(
                    title=title,
                    read_only=read_only,
                    destructive=destructive,
                    idempotent=idempotent,
                    open_world=open_world,
                ),
                blocking=blocking,
                timeout=timeout,
                charge_policy=charge_policy,
            )
            self.add(op)
            return function

        return register

    def add(self, op: BuiltinOperation) -> None:
        """Add an already built operation (what `operation` and `include` use)."""
        key = (op.tool, op.name)
        if key in self._operations:
            raise ValueError(f"built-in operation {op.tool}.{op.name} is registered twice")
        category, tool_description = self._tools.get(op.tool, (None, None))
        category = _agree(op.tool, "category", category, op.category)
        tool_description = _agree(
            op.tool, "tool_description", tool_description, op.tool_description
        )
        self._tools[op.tool] = (category, tool_description)
        self._operations[key] = op

    def include(self, *others: BuiltinRegistry) -> None:
        """Copy every operation of `others` into this registry (served by this one's adapter)."""
        for other in others:
            for op in other:
                self.add(op)

    def add_profile(self, name: str, source: BuiltinRegistry | str) -> None:
        """Register an optional profile: a registry, or `"package.module"` /
        `"package.module:attribute"` naming one (imported on first use; the attribute defaults
        to `registry`)."""
        if not name or not name.strip():
            raise ValueError("a profile needs a name")
        if name in self._profiles:
            raise ValueError(f"profile {name!r} is registered twice")
        self._profiles[name] = source

    # -- reading ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[BuiltinOperation]:
        return iter(self._operations.values())

    def __len__(self) -> int:
        return len(self._operations)

    def get(self, tool: str, name: str | None = None) -> BuiltinOperation:
        """The operation `tool.name` (`name` defaults to the tool's own name); KeyError if none."""
        return self._operations[(tool, name or tool)]

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(self._profiles)

    def profile(self, name: str) -> BuiltinRegistry:
        """The registry of profile `name`, importing its module the first time."""
        try:
            source = self._profiles[name]
        except KeyError:
            known = ", ".join(sorted(self._profiles)) or "none"
            raise ValueError(f"unknown built-in profile {name!r} (known: {known})") from None
        if isinstance(source, BuiltinRegistry):
            return source
        module_name, _, attribute = source.partition(":")
        module = importlib.import_module(module_name)
        registry = getattr(module, attribute or DEFAULT_PROFILE_ATTRIBUTE, None)
        if not isinstance(registry, BuiltinRegistry):
            raise TypeError(f"profile {name!r}: {source!r} does not name a BuiltinRegistry")
        self._profiles[name] = registry
        return registry

    def specs(
        self, prices: Mapping[str, int] | None = None, profiles: Sequence[str] = ()
    ) -> list[ToolSpec]:
        """The ToolSpecs of this registry, then of each named profile, in registration order.

        `prices` maps qualified names (`calc.evaluate`, or `echo` for a tool's own default
        operation) to micro-credits; anything not listed is free. Unknown keys are ignored: the
        same mapping may price other adapters' tools.
        """
        prices = prices or {}
        tools = self._tool_specs(prices)
        seen = {tool.name for tool in tools}
        for profile_name in dict.fromkeys(profiles):
            for tool in self.profile(profile_name)._tool_specs(prices):
                if tool.name in seen:
                    raise ValueError(
                        f"profile {profile_name!r} declares tool {tool.name!r}, "
                        "which is already declared"
                    )
                seen.add(tool.name)
                tools.append(tool)
        return tools

    def _tool_specs(self, prices: Mapping[str, int]) -> list[ToolSpec]:
        grouped: dict[str, list[BuiltinOperation]] = {}
        for op in self._operations.values():
            grouped.setdefault(op.tool, []).append(op)
        tools = []
        for tool, ops in grouped.items():
            category, tool_description = self._tools[tool]
            tools.append(
                ToolSpec(
                    name=tool,
                    description=tool_description or ops[0].description,
                    category=category or "general",
                    operations=tuple(
                        OperationSpec(
                            name=op.name,
                            description=op.description,
                            # Copies: a catalog (or a door) may keep or adjust its own.
                            input_schema=copy.deepcopy(op.input_schema),
                            output_schema=copy.deepcopy(op.output_schema),
                            adapter=self.adapter,
                            annotations=op.annotations,
                            price=int(prices.get(op.qualified, 0)),
                            charge_policy=op.charge_policy,
                            timeout=op.timeout,
                            title=op.title,
                        )
                        for op in ops
                    ),
                )
            )
        return tools


def _agree(tool: str, what: str, current: str | None, new: str | None) -> str | None:
    if current is not None and new is not None and current != new:
        raise ValueError(f"tool {tool!r} is given two values for {what}: {current!r}, {new!r}")
    return current if new is None else new


# -- building an operation from a function ------------------------------------------------------


_NO_ANNOTATIONS = Annotations()


def build_operation(
    function: Callable[..., Any],
    *,
    tool: str,
    name: str,
    category: str | None = None,
    tool_description: str | None = None,
    description: str | None = None,
    title: str | None = None,
    annotations: Annotations = _NO_ANNOTATIONS,
    blocking: bool = False,
    timeout: float | None = None,
    charge_policy: ChargePolicy = "success",
) -> BuiltinOperation:
    """Inspect `function` once and derive its schemas, description and calling convention."""
    names.check_part(tool, "tool")
    names.check_part(name, f"operation of {tool!r}")
    label = f"{tool}.{name}"
    description = description or first_paragraph(inspect.getdoc(function))
    if not description:
        raise ValueError(f"{label}: give a docstring or a description, written for models")
    is_async = inspect.iscoroutinefunction(function)
    if is_async and blocking:
        raise ValueError(f"{label}: blocking=True is for sync functions; async ones are awaited")
    try:
        hints = get_type_hints(function, include_extras=True)
    except NameError as exc:
        raise TypeError(f"{label}: cannot resolve the annotations of {function!r}: {exc}") from exc
    input_schema, context_param = input_schema_of(label, inspect.signature(function), hints)
    output_schema, dump = output_of(label, hints.get("return"))
    return BuiltinOperation(
        tool=tool,
        name=name,
        description=description,
        input_schema=input_schema,
        output_schema=output_schema,
        annotations=annotations,
        function=function,
        is_async=is_async,
        blocking=blocking,
        context_param=context_param,
        dump=dump,
        category=category,
        tool_description=tool_description,
        title=title,
        timeout=timeout,
        charge_policy=charge_policy,
    )


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def input_schema_of(
    label: str, signature: inspect.Signature, hints: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """(JSON Schema of the parameters, name of the InvokeContext parameter or None)."""
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for index, (pname, param) in enumerate(signature.parameters.items()):
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"{label}: parameter {pname!r} must be passable by keyword")
        if pname not in hints:
            raise TypeError(f"{label}: parameter {pname!r} needs a type annotation")
        annotation = hints[pname]
        if annotation is InvokeContext:
            if context_param is not None:
                raise TypeError(f"{label}: only one parameter may take the InvokeContext")
            context_param = pname
            continue
        # Internal field names with aliases: any parameter name works, even one that shadows a
        # BaseModel attribute (`json`, `schema`, `copy`) or starts with an underscore.
        if param.default is param.empty:
            fields[f"p{index}"] = (annotation, Field(alias=pname))
        else:
            fields[f"p{index}"] = (annotation, Field(default=param.default, alias=pname))
    try:
        model = create_model("Arguments", __config__=ConfigDict(extra="forbid"), **fields)
        raw = model.model_json_schema(by_alias=True, mode="validation")
    except PydanticUserError as exc:
        raise TypeError(f"{label}: cannot build an input schema: {exc}") from exc
    schema = clean_schema(label, raw)
    ordered: dict[str, Any] = {"type": "object", "properties": schema.get("properties", {})}
    if schema.get("required"):
        ordered["required"] = schema["required"]
    ordered["additionalProperties"] = False
    return ordered, context_param


def output_of(
    label: str, annotation: Any
) -> tuple[dict[str, Any] | None, Callable[[Any], Any] | None]:
    """(output JSON Schema, converter to JSON-ready data) for a return annotation.

    A TypedDict or a pydantic model gives an output schema; a model is dumped in JSON mode. Any
    other annotation (or none) declares no output schema and returns values as they are.
    """
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    if not (is_model or is_typeddict(annotation)):
        return None, None
    try:
        raw = TypeAdapter(annotation).json_schema(mode="serialization")
    except PydanticUserError as exc:
        raise TypeError(f"{label}: cannot build an output schema: {exc}") from exc
    schema = clean_schema(label, raw)
    if not is_model:
        return schema, None
    return schema, _dump_model


def _dump_model(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


# Keywords whose value is a map of name -> subschema, a list of subschemas, or one subschema.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}
)
_SCHEMA_LISTS = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)


def clean_schema(label: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """A self-contained copy of a pydantic JSON Schema: local `$ref`s inlined (recursive types
    refused), `$defs` dropped, the auto-generated `title` keywords stripped (a property *named*
    `title` is kept). The result uses draft-07 compatible keywords only."""
    defs: Mapping[str, Any] = schema.get("$defs", {})

    def walk(node: Any, seen: frozenset[str]) -> Any:
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = ref.removeprefix("#/$defs/")
            if target == ref or target not in defs:
                raise TypeError(f"{label}: unsupported schema reference {ref!r}")
            if target in seen:
                raise TypeError(f"{label}: recursive type {target!r} is not supported")
            inlined = walk(defs[target], seen | {target})
            siblings = walk({k: v for k, v in node.items() if k != "$ref"}, seen)
            return {**inlined, **siblings}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "$defs"):
                continue
            if key in _SCHEMA_MAPS:
                out[key] = {k: walk(v, seen) for k, v in value.items()}
            elif key in _SCHEMA_LISTS or (key == "items" and isinstance(value, list)):
                out[key] = [walk(v, seen) for v in value]
            elif key in _SCHEMA_ONE:
                out[key] = walk(value, seen)
            else:
                out[key] = value
        return out

    cleaned: dict[str, Any] = walk(schema, frozenset())
    return cleaned
