from typing import Any

import pytest

from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.errors import InvalidArguments, ToolNotFound
from toolwire.core.ports import InvokeContext


class Returns:
    """An upstream edge that answers with its arguments."""

    async def invoke(self, operation: Any, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        return arguments


SCHEMA = {
    "type": "object",
    "properties": {"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["q"],
    "additionalProperties": False,
}


def op(name: str, schema: dict[str, Any] | None = None, price: int = 0) -> OperationSpec:
    return OperationSpec(
        name=name,
        description=f"{name} op",
        input_schema=schema or SCHEMA,
        adapter=Returns(),
        price=price,
    )


def catalog() -> Catalog:
    return Catalog(
        [
            ToolSpec("search", "Search things", (op("web"), op("news")), category="web"),
            ToolSpec("echo", "Echo", (op("echo"),), category="testing"),
            ToolSpec("uuid", "Ids", (op("generate"),), category="util"),
        ]
    )


def test_operations_resolve_by_every_accepted_spelling() -> None:
    cat = catalog()
    assert cat.resolve("search", "web").qualified == "search.web"
    assert cat.resolve("search.web").qualified == "search.web"
    assert cat.resolve("search__web").qualified == "search.web"
    assert cat.resolve("echo").qualified == "echo"
    assert cat.resolve("echo.echo").qualified == "echo"
    assert cat.resolve("uuid").qualified == "uuid.generate"


@pytest.mark.parametrize(
    ("tool", "op_name"),
    [("search", None), ("nope", None), ("search", "x"), ("search.x", None), ("", None)],
)
def test_unknown_or_ambiguous_names_are_tool_not_found(tool: str, op_name: str | None) -> None:
    with pytest.raises(ToolNotFound):
        catalog().resolve(tool, op_name)


def test_catalog_order_is_deterministic() -> None:
    assert [o.qualified for o in catalog()] == [
        "echo",
        "search.news",
        "search.web",
        "uuid.generate",
    ]


def test_search_matches_every_word_in_names_descriptions_and_categories() -> None:
    cat = catalog()
    assert [o.qualified for o in cat.search("web")] == ["search.news", "search.web"]
    assert [o.qualified for o in cat.search("news op")] == ["search.news"]
    assert [o.qualified for o in cat.search(category="util")] == ["uuid.generate"]
    assert cat.search("nothing-matches") == []


def test_validation_reports_every_failing_path() -> None:
    validate = catalog().resolve("search.web").validate
    assert validate({"q": "x", "n": 2}) == {"q": "x", "n": 2}
    with pytest.raises(InvalidArguments) as info:
        validate({"n": 0, "extra": 1})
    errors = info.value.details["errors"]
    assert {e["path"] for e in errors} == {"/q", "/extra", "/n"}
    assert len(errors) == 3


def test_a_2020_12_schema_is_validated_by_its_own_dialect() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"pos": {"type": "integer", "exclusiveMinimum": 0}},
        "properties": {"n": {"$ref": "#/$defs/pos"}, "t": {"prefixItems": [{"type": "string"}]}},
    }
    validate = Catalog([ToolSpec("t", "t", (op("o", schema),))]).resolve("t.o").validate
    assert validate({"n": 1, "t": ["a"]}) == {"n": 1, "t": ["a"]}
    with pytest.raises(InvalidArguments):
        validate({"n": 0})
    with pytest.raises(InvalidArguments):
        validate({"t": [1]})


@pytest.mark.parametrize(
    "tools",
    [
        [ToolSpec("a", "a", (op("x"),)), ToolSpec("a", "a", (op("y"),))],
        [ToolSpec("a", "a", (op("x"), op("x")))],
        [ToolSpec("a", "a", ())],
        [ToolSpec("a.b", "a", (op("x"),))],
        [ToolSpec("a", "a", (op("x", {"type": "string"}),))],
        [ToolSpec("a", "a", (op("x", {"type": "object", "properties": 3}),))],
        [ToolSpec("a", "a", (op("x", price=-1),))],
    ],
)
def test_invalid_declarations_are_refused_when_the_catalog_is_built(tools: list[ToolSpec]) -> None:
    with pytest.raises(Exception) as info:
        Catalog(tools)
    assert not isinstance(info.value, ToolNotFound)
