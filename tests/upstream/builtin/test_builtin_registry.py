"""The registry: schemas from signatures, calling conventions, specs, prices and profiles."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, NotRequired

import fastjsonschema
import jsonschema
import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from tests.support.channels import RecordingChannel
from toolwire.core.catalog import Catalog, ToolSpec
from toolwire.core.gateway import Gateway
from toolwire.core.model import Principal, ToolCall
from toolwire.core.ports import InvokeContext
from toolwire.upstream.builtin import BUILTINS, BuiltinRegistry, builtin_specs
from toolwire.upstream.builtin.registry import clean_schema


class Point(TypedDict):
    x: Annotated[int, Field(description="Horizontal position.")]
    y: int


class SampleResult(TypedDict):
    title: Annotated[str, Field(description="Echoed title.")]
    note: NotRequired[str]


class Reading(BaseModel):
    at: dt.datetime
    value: float


class Node(TypedDict):
    children: list[Node]


def sample(
    title: Annotated[str, Field(description="A property named title must survive.", max_length=5)],
    mode: Annotated[Literal["fast", "exact"], Field(description="How to do it.")] = "fast",
    limit: Annotated[int, Field(description="At most this many.", ge=1, le=10)] = 3,
    point: Annotated[Point | None, Field(description="Where to do it.")] = None,
    *,
    ctx: InvokeContext,
) -> SampleResult:
    """Do a sample thing.

    This second paragraph is for humans only.
    """
    return {"title": title}


def keywords(schema: Any) -> Iterator[str]:
    """Every keyword used anywhere in a schema (property names excluded)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key in ("properties", "patternProperties", "$defs", "definitions"):
                for sub in value.values():
                    yield from keywords(sub)
            elif key not in ("default", "enum", "const", "examples"):
                yield from keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from keywords(item)


@pytest.fixture
def reg() -> BuiltinRegistry:
    registry = BuiltinRegistry()
    registry.operation(
        "sample", "run", category="testing", tool_description="A sample tool.", read_only=True
    )(sample)
    return registry


def test_the_input_schema_lists_parameters_with_required_defaults_enums_and_descriptions(
    reg: BuiltinRegistry,
) -> None:
    schema = reg.get("sample", "run").input_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == ["title", "mode", "limit", "point"]
    assert schema["required"] == ["title"]
    props = schema["properties"]
    assert props["title"] == {
        "description": "A property named title must survive.",
        "maxLength": 5,
        "type": "string",
    }
    assert props["mode"] == {
        "default": "fast",
        "description": "How to do it.",
        "enum": ["fast", "exact"],
        "type": "string",
    }
    assert props["limit"] == {
        "default": 3,
        "description": "At most this many.",
        "maximum": 10,
        "minimum": 1,
        "type": "integer",
    }


def test_the_context_parameter_is_left_out_of_the_schema(reg: BuiltinRegistry) -> None:
    op = reg.get("sample", "run")
    assert "ctx" not in op.input_schema["properties"]
    assert op.context_param == "ctx"


def test_nested_types_are_inlined_and_pydantic_titles_stripped(reg: BuiltinRegistry) -> None:
    schema = reg.get("sample", "run").input_schema
    used = set(keywords(schema))
    assert not used & {"title", "$ref", "$defs", "$schema"}
    point = schema["properties"]["point"]
    assert point["default"] is None
    inlined = point["anyOf"][0]
    assert inlined["type"] == "object"
    assert inlined["properties"]["x"] == {"description": "Horizontal position.", "type": "integer"}
    assert inlined["required"] == ["x", "y"]


def test_the_input_schema_compiles_with_fastjsonschema_and_validates(
    reg: BuiltinRegistry,
) -> None:
    validate = fastjsonschema.compile(dict(reg.get("sample", "run").input_schema))
    assert validate({"title": "hi", "point": {"x": 1, "y": 2}})["mode"] == "fast"
    for bad in (
        {},
        {"title": "too long"},
        {"title": "a", "mode": "slow"},
        {"title": "a", "limit": 0},
        {"title": "a", "extra": 1},
        {"title": "a", "point": {"x": 1}},
    ):
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            validate(bad)


def test_the_description_is_the_docstring_first_paragraph(reg: BuiltinRegistry) -> None:
    assert reg.get("sample", "run").description == "Do a sample thing."


def test_the_output_schema_comes_from_a_typeddict_return_annotation(
    reg: BuiltinRegistry,
) -> None:
    out = reg.get("sample", "run").output_schema
    assert out is not None
    assert out["type"] == "object"
    assert out["required"] == ["title"]
    assert out["properties"]["title"]["description"] == "Echoed title."
    jsonschema.Draft7Validator.check_schema(out)


async def test_a_pydantic_model_result_is_dumped_to_json_ready_data(principal: Principal) -> None:
    reg = BuiltinRegistry()

    @reg.operation("meter", "read")
    def read() -> Reading:
        """Read the meter."""
        return Reading(at=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), value=1.5)

    op = reg.get("meter", "read")
    assert op.output_schema is not None
    assert op.output_schema["properties"]["at"]["format"] == "date-time"
    catalog = Catalog(reg.specs())
    result = await reg.adapter.invoke(
        catalog.resolve("meter.read"), {}, InvokeContext("r", principal)
    )
    assert result == {"at": "2024-01-02T03:04:05Z", "value": 1.5}


def test_a_plain_return_annotation_declares_no_output_schema() -> None:
    reg = BuiltinRegistry()

    @reg.operation("plain")
    def plain() -> dict[str, Any]:
        """Plain."""
        return {}

    assert reg.get("plain").output_schema is None


async def test_sync_functions_run_inline_and_blocking_ones_in_a_worker_thread(
    principal: Principal,
) -> None:
    reg = BuiltinRegistry()

    @reg.operation("where", "inline")
    def inline() -> int:
        """Which thread."""
        return threading.get_ident()

    @reg.operation("where", "worker", blocking=True)
    def worker() -> int:
        """Which thread."""
        return threading.get_ident()

    @reg.operation("where", "awaited")
    async def awaited() -> int:
        """Which thread."""
        await asyncio.sleep(0)
        return threading.get_ident()

    catalog = Catalog(reg.specs())
    ctx = InvokeContext("r", principal)
    here = threading.get_ident()
    assert await reg.adapter.invoke(catalog.resolve("where.inline"), {}, ctx) == here
    assert await reg.adapter.invoke(catalog.resolve("where.awaited"), {}, ctx) == here
    assert await reg.adapter.invoke(catalog.resolve("where.worker"), {}, ctx) != here


GatewayFor = Callable[[list[ToolSpec]], Gateway]
MakeCall = Callable[..., ToolCall]


async def test_the_context_parameter_receives_the_invoke_context_for_progress(
    principal: Principal, gateway_for: GatewayFor, make_call: MakeCall
) -> None:
    reg = BuiltinRegistry()

    @reg.operation("slow")
    async def slow(steps: int, ctx: InvokeContext) -> dict[str, str]:
        """Report progress."""
        for step in range(steps):
            await ctx.progress(step + 1, steps, f"step {step + 1}")
        return {"request_id": ctx.request_id}

    channel = RecordingChannel()
    gateway = gateway_for(reg.specs())
    call = make_call("slow", {"steps": 2}, channel=channel)
    outcome = await gateway.execute(principal, call)
    assert outcome.error is None
    assert outcome.data == {"request_id": call.request_id}
    assert channel.progress_reports == [(1, 2, "step 1"), (2, 2, "step 2")]


async def test_invalid_arguments_are_rejected_by_the_core_before_the_function_runs(
    principal: Principal, gateway_for: GatewayFor, make_call: MakeCall, ledger: Any
) -> None:
    reg = BuiltinRegistry()
    ran: list[int] = []

    @reg.operation("count")
    def count(n: Annotated[int, Field(ge=0, le=5, description="A small number.")]) -> int:
        """Record a call."""
        ran.append(n)
        return n

    gateway = gateway_for(reg.specs({"count": 10}))
    for bad in ({}, {"n": 6}, {"n": "1"}, {"n": 1, "m": 2}):
        outcome = await gateway.execute(principal, make_call("count", bad))
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"
    assert ran == []
    assert ledger.calls == []
    outcome = await gateway.execute(principal, make_call("count", {"n": 3}))
    assert outcome.data == 3
    assert ran == [3]


def test_specs_group_operations_into_tools_with_prices_and_annotations() -> None:
    reg = BuiltinRegistry()
    reg.operation("alpha", "first", category="math", tool_description="Alpha tool.")(sample)
    reg.operation(
        "alpha", "second", read_only=True, destructive=False, idempotent=True, open_world=False
    )(sample)
    reg.operation("beta", title="Beta!")(sample)
    specs = reg.specs({"alpha.second": 5, "beta": 7, "other.tool": 9})
    assert [(s.name, [o.name for o in s.operations]) for s in specs] == [
        ("alpha", ["first", "second"]),
        ("beta", ["beta"]),
    ]
    alpha, beta = specs
    assert (alpha.category, alpha.description) == ("math", "Alpha tool.")
    assert (beta.category, beta.description) == ("general", "Do a sample thing.")
    assert [o.price for o in alpha.operations] == [0, 5]
    assert beta.operations[0].price == 7
    assert alpha.operations[1].annotations.to_mcp() == {
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    }
    assert beta.operations[0].annotations.title == beta.operations[0].title == "Beta!"
    catalog = Catalog(specs)
    assert catalog.resolve("beta").qualified == "beta"
    assert catalog.resolve("alpha.second").qualified == "alpha.second"
    assert catalog.resolve("alpha__first").external("openai") == "alpha__first"


def test_profiles_are_off_by_default_and_added_by_name() -> None:
    base = BuiltinRegistry()
    base.operation("base")(sample)
    extra = BuiltinRegistry()
    extra.operation("extra")(sample)
    base.add_profile("extra", extra)
    base.add_profile("lazy", "toolwire.upstream.builtin.calc")
    base.add_profile("lazy-attr", "toolwire.upstream.builtin.echo:registry")
    assert base.profile_names == ("extra", "lazy", "lazy-attr")
    assert [s.name for s in base.specs()] == ["base"]
    names = [s.name for s in base.specs(profiles=["extra", "lazy", "lazy-attr", "extra"])]
    assert names == ["base", "extra", "calc", "echo"]


def test_an_unknown_profile_or_a_clashing_one_is_a_configuration_error() -> None:
    base = BuiltinRegistry()
    base.operation("echo")(sample)
    base.add_profile("clash", "toolwire.upstream.builtin.echo")
    base.add_profile("not-a-registry", "toolwire.upstream.builtin.echo:Echoed")
    with pytest.raises(ValueError, match="unknown built-in profile"):
        base.specs(profiles=["nope"])
    with pytest.raises(ValueError, match="already declared"):
        base.specs(profiles=["clash"])
    with pytest.raises(TypeError):
        base.specs(profiles=["not-a-registry"])
    with pytest.raises(ValueError):
        base.add_profile("clash", BuiltinRegistry())
    with pytest.raises(ValueError, match="unknown built-in profile"):
        builtin_specs(profiles=["nope"])


def test_a_registry_refuses_bad_declarations() -> None:
    reg = BuiltinRegistry()

    def undocumented(x: int) -> int:
        return x

    def variadic(*args: int) -> int:
        """Variadic."""
        return 0

    def unannotated(x) -> int:  # type: ignore[no-untyped-def]
        """Unannotated."""
        return 0

    def recursive(node: Node) -> int:
        """Recursive."""
        return 0

    async def asynchronous() -> int:
        """Async."""
        return 0

    with pytest.raises(ValueError, match="docstring"):
        reg.operation("t")(undocumented)
    with pytest.raises(TypeError, match="keyword"):
        reg.operation("t")(variadic)
    with pytest.raises(TypeError, match="annotation"):
        reg.operation("t")(unannotated)
    with pytest.raises(TypeError, match="recursive"):
        reg.operation("t")(recursive)
    with pytest.raises(ValueError, match="blocking"):
        reg.operation("t", blocking=True)(asynchronous)
    for tool, name in (("bad.tool", None), ("t", "two__parts"), ("1t", None)):
        with pytest.raises(ValueError):
            reg.operation(tool, name)(sample)
    reg.operation("t", "a", category="one")(sample)
    with pytest.raises(ValueError, match="twice"):
        reg.operation("t", "a")(sample)
    with pytest.raises(ValueError, match="category"):
        reg.operation("t", "b", category="two")(sample)
    assert len(reg) == 1


def test_a_parameter_may_shadow_a_pydantic_model_attribute() -> None:
    reg = BuiltinRegistry()

    @reg.operation("shadow")
    def shadow(
        json: Annotated[str, Field(description="Named like BaseModel.json.")],
        schema: Annotated[int, Field(description="Named like BaseModel.schema.")] = 1,
    ) -> int:
        """Shadow names."""
        return schema

    assert reg.get("shadow").input_schema["required"] == ["json"]


def test_clean_schema_keeps_ref_siblings_when_inlining() -> None:
    raw = {
        "$defs": {"P": {"type": "object", "title": "P", "properties": {"a": {"type": "string"}}}},
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/P", "description": "A P."}},
    }
    assert clean_schema("t", raw)["properties"]["p"] == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "description": "A P.",
    }


# -- the default registry ------------------------------------------------------------------------

EXPECTED = [
    "calc.evaluate",
    "echo",
    "json.query",
    "text.regex_extract",
    "text.stats",
    "time.convert",
    "time.now",
    "uuid.generate",
]


def test_the_default_registry_has_every_builtin_tool() -> None:
    assert sorted(op.qualified for op in BUILTINS) == EXPECTED
    assert sorted(op.qualified for op in Catalog(builtin_specs())) == EXPECTED


@pytest.mark.parametrize("qualified", EXPECTED)
def test_every_builtin_schema_is_complete_self_contained_and_compiles(qualified: str) -> None:
    tool, _, name = qualified.partition(".")
    op = BUILTINS.get(tool, name or None)
    schema = op.input_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert not set(keywords(schema)) & {"title", "$ref", "$defs", "$schema"}
    for prop, sub in schema["properties"].items():
        assert sub.get("description"), f"{qualified}: {prop} has no description"
    fastjsonschema.compile(dict(schema))
    jsonschema.Draft7Validator.check_schema(schema)
    assert op.output_schema is not None
    assert op.output_schema["type"] == "object"
    assert not set(keywords(op.output_schema)) & {"title", "$ref", "$defs"}
    jsonschema.Draft7Validator.check_schema(op.output_schema)
    assert len(op.description) > 20
    assert op.annotations.read_only is True
    assert op.annotations.open_world is False


def test_every_builtin_tool_has_a_category_and_a_description() -> None:
    for spec in builtin_specs():
        assert spec.category != "general"
        assert len(spec.description) > 20


def test_builtin_prices_are_keyed_by_qualified_name() -> None:
    catalog = Catalog(builtin_specs({"echo": 1_000, "calc.evaluate": 2_500}))
    assert catalog.resolve("echo").price == 1_000
    assert catalog.resolve("calc.evaluate").price == 2_500
    assert catalog.resolve("time.now").price == 0


# Sample arguments for every builtin: each result must match the declared output schema.
SAMPLES: dict[str, dict[str, Any]] = {
    "echo": {"message": "hi", "data": {"a": [1, 2]}},
    "calc.evaluate": {"expression": "1/3 + sqrt(2)"},
    "time.now": {"zone": "Europe/Paris"},
    "time.convert": {"datetime": "2024-07-01T12:00:00Z", "to_zone": "Asia/Tokyo"},
    "json.query": {"data": {"a": [{"b": 1}]}, "expression": "a[*].b"},
    "text.stats": {"text": "One two. Three two!"},
    "text.regex_extract": {"pattern": r"(?P<n>\d+)(x)?", "text": "a1 b22"},
    "uuid.generate": {"version": 7, "count": 3},
}


def test_the_samples_cover_every_builtin() -> None:
    assert sorted(SAMPLES) == EXPECTED


@pytest.mark.parametrize("qualified", EXPECTED)
async def test_every_builtin_result_matches_its_output_schema(
    qualified: str, gateway: Gateway, principal: Principal, make_call: MakeCall
) -> None:
    outcome = await gateway.execute(principal, make_call(qualified, SAMPLES[qualified]))
    assert outcome.error is None
    op = gateway.catalog.resolve(qualified)
    assert op.output_schema is not None
    jsonschema.validate(outcome.data, op.output_schema)
