"""An adversarial table of input schemas, each rebuilt for every format: the result passes the
vendor's SDK types and documented rules, only ever loosens what the original allows (anything
the original accepts, the vendor schema accepts too, once keys are renamed), and arguments in the
vendor's spelling come back in the original shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema
import pytest

from tests.inbound.formats.vendor_rules import FORMATS, parts, sdk_check, violations
from toolwire.core.catalog import Annotations, Catalog, OperationSpec, ToolSpec
from toolwire.inbound import formats
from toolwire.inbound.formats.keys import safe_key
from toolwire.inbound.formats.vendors import RULES, VENDOR_OF


class _NoAdapter:
    async def invoke(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("never called")


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


NODE = {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}}
# name -> (input schema, one argument object the schema accepts)
TABLE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "array without items (issue 9 item 8)": (obj(ids={"type": "array"}), {"ids": [1, "a"]}),
    "tuple items (draft-07 list)": (
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            **obj(pair={"type": "array", "items": [{"type": "string"}, obj(**{"k-1": {}})]}),
        },
        {"pair": ["a", {"k-1": 1}]},
    ),
    "prefixItems": (
        obj(pair={"type": "array", "prefixItems": [{"type": "number"}], "items": False}),
        {"pair": [1.5]},
    ),
    "type arrays and nullable": (
        obj(n={"type": ["integer", "null"]}, s={"type": ["string", "number", "boolean"]}),
        {"n": None, "s": True},
    ),
    "const and huge enums": (
        obj(c={"const": 3}, e={"type": "string", "enum": [f"v{i}" for i in range(5000)]}),
        {"c": 3, "e": "v4321"},
    ),
    "enum with null and booleans": (obj(e={"enum": ["a", 1, None, True]}), {"e": None}),
    "$ref cycle through $defs": (
        {
            **obj(tree={"$ref": "#/$defs/Tree"}),
            "$defs": {"Tree": obj(kids={"type": "array", "items": {"$ref": "#/$defs/Tree"}})},
        },
        {"tree": {"kids": [{"kids": []}]}},
    ),
    "$ref to the root and to definitions": (
        {
            **obj(me={"$ref": "#"}, d={"$ref": "#/definitions/D"}),
            "definitions": {"D": {"type": "string", "format": "uri"}},
        },
        {"me": {"me": {}}, "d": "x"},
    ),
    "$ref cycle outside $defs": (
        obj(node=NODE, other={"$ref": "#/properties/node"}),
        {"other": {"kids": [{"kids": []}]}},
    ),
    "unresolvable $ref": (
        {
            **obj(x={"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/Gone/properties/y"}]}),
            "$defs": {"Gone": {}},
        },
        {"x": 1},
    ),
    "oneOf at the root": (
        {
            "type": "object",
            "oneOf": [
                {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b-c": {"type": "integer"}}, "required": ["b-c"]},
            ],
        },
        {"b-c": 2},
    ),
    "allOf and anyOf at the root with $ref": (
        {
            "type": "object",
            "allOf": [{"$ref": "#/$defs/Base"}],
            "anyOf": [{"required": ["q"]}],
            "$defs": {"Base": obj(q={"type": "string"})},
        },
        {"q": "x"},
    ),
    "nested oneOf and allOf": (
        obj(
            v={"oneOf": [{"type": "string"}, obj(k={"type": "integer"})]},
            w={"allOf": [obj(a={"type": "string"}), obj(b={"type": "string"})]},
        ),
        {"v": {"k": 1}, "w": {"a": "x", "b": "y"}},
    ),
    "patternProperties": (
        {
            **obj(tags={"type": "object", "patternProperties": {"^x-": {"type": "string"}}}),
            "additionalProperties": False,
        },
        {"tags": {"x-a": "1"}},
    ),
    "booleans as schemas": (
        obj(anything=True, never=False, list={"type": "array", "items": True}),
        {"anything": [1], "list": [None]},
    ),
    "keys vendors refuse, nested": (
        obj(
            **{
                "filter[status]": {"type": "string"},
                "X-Trace": {"type": "string"},
                "$select": {"type": "array", "items": obj(**{"a b": {"type": "integer"}})},
                "9lives": {"type": "integer"},
                "k" * 80: {"type": "string"},
                "line\n": {"type": "string"},
                "": {"type": "string"},
            }
        ),
        {"filter[status]": "open", "$select": [{"a b": 1}], "9lives": 9, "line\n": "", "": "e"},
    ),
    "constraints some vendors lack": (
        obj(
            s={"type": "string", "minLength": 2, "pattern": "^a", "format": "int64"},
            n={"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5, "default": 1},
        ),
        {"s": "ab", "n": 1.5},
    ),
    "draft-4 exclusiveMinimum boolean and unknown keywords": (
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            **obj(
                n={"type": "integer", "minimum": 1, "exclusiveMinimum": True},
                x={"type": "string", "x-vendor": 1, "contentMediaType": "text/plain"},
            ),
        },
        {"n": 2, "x": "y"},
    ),
    "empty object root": ({"type": "object"}, {}),
    "chained $refs outside $defs that fan out (issue 9 item 11 shape)": (
        {
            **obj(top={"$ref": "#/components/L0"}),
            "components": {
                f"L{i}": obj(**{k: {"$ref": f"#/components/L{i + 1}"} for k in "abcd"})
                for i in range(12)
            }
            | {"L12": {"type": "string"}},
        },
        {"top": {"a": {"b": {}}}},
    ),
    "choices fanning out over 20 levels, then a refused key": (
        {
            **obj(f={"$ref": "#/$defs/F0"}),
            "$defs": {
                f"F{i}": {"anyOf": [{"$ref": f"#/$defs/F{i + 1}"}, {"$ref": f"#/$defs/F{i + 1}"}]}
                for i in range(20)
            }
            | {"F20": obj(**{"k k": {}})},
        },
        {"f": {"k k": 1}},
    ),
    "$ref with sibling constraints": (
        {
            **obj(a={"$ref": "#/$defs/S", "maxLength": 3}, b={"$ref": "#/$defs/S"}),
            "$defs": {"S": {"type": "string", "minLength": 1}},
        },
        {"a": "ab", "b": "abcdef"},
    ),
    "integers past 64 bits": (
        obj(n={"type": "integer", "minimum": -9223372036854776000, "maximum": 2**70}),
        {"n": 5},
    ),
    "free-form object with a long description": (
        {**obj(meta={"type": "object"}), "description": "d" * 3000},
        {"meta": {"a b": 1}},
    ),
}


def _catalog(schema: Mapping[str, Any], description: str = "Adversarial.") -> Catalog:
    spec = OperationSpec(
        name="run",
        description=description,
        input_schema=schema,
        adapter=_NoAdapter(),  # type: ignore[arg-type]
        annotations=Annotations(),
        price=2_500_000,
    )
    return Catalog([ToolSpec(name="adv", description="Adversarial tools.", operations=(spec,))])


def _property_names(schema: Any) -> set[str]:
    """Every key any `properties` of `schema` names, at any depth."""
    if isinstance(schema, list):
        return set().union(*(_property_names(s) for s in schema))
    if not isinstance(schema, dict):
        return set()
    found = (
        set(schema.get("properties") or {}) if isinstance(schema.get("properties"), dict) else set()
    )
    return found.union(*(_property_names(v) for v in schema.values()))


def _rename(value: Any, rules: Any, named: set[str]) -> Any:
    """`value` as a model would send it: each key the schema names, in the vendor's spelling
    (keys of free-form objects stay as they are)."""
    if isinstance(value, dict):
        return {
            (safe_key(k, rules) if k in named else k): _rename(v, rules, named)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rename(v, rules, named) for v in value]
    return value


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(TABLE))
def test_each_adversarial_schema_passes_the_vendor_rules_and_round_trips(
    case: str, fmt: str
) -> None:
    schema, arguments = TABLE[case]
    jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(
        schema
    ).validate(arguments)
    catalog = _catalog(schema, "x" * 2000 if "long description" in case else "Adversarial.")
    [definition] = formats.render(catalog, catalog, fmt)
    name, description, shown = parts(fmt, definition)

    sdk_check(fmt, definition)
    assert violations(fmt, definition) == []
    vendor = VENDOR_OF[fmt]
    named = _property_names(schema)
    sent = _rename(arguments, RULES[vendor], named) if vendor != "mcp" else arguments
    jsonschema.validate(sent, shown)  # looser, never stricter
    assert formats.inbound(catalog, fmt, name, sent) == ("adv", "run", arguments)
    assert "Price: 2.5 credits per call." in description


def test_the_issue_input_gets_items_in_every_vendor_format() -> None:
    catalog = _catalog(obj(ids={"type": "array"}))

    shown = {fmt: parts(fmt, formats.render(catalog, catalog, fmt)[0])[2] for fmt in FORMATS}

    assert shown["mcp"]["properties"]["ids"] == {"type": "array"}
    for fmt in FORMATS[1:]:
        assert shown[fmt]["properties"]["ids"] == {"type": "array", "items": {}}


def test_a_refused_key_is_renamed_readably_and_reversibly() -> None:
    catalog = _catalog(obj(**{"filter[status]": {"type": "string"}}))

    shown = parts("anthropic", formats.render(catalog, catalog, "anthropic")[0])[2]
    [key] = shown["properties"]

    assert key.startswith("filter_status__") and len(key) == len("filter_status__") + 6
    assert formats.inbound(catalog, "anthropic", "adv__run", {key: "open"})[2] == {
        "filter[status]": "open"
    }


def test_a_root_choice_is_merged_and_stated_in_the_description() -> None:
    schema, _ = TABLE["oneOf at the root"]
    shown = parts("openai", formats.render(_catalog(schema), _catalog(schema), "openai")[0])[2]

    assert set(shown["properties"]) == {"a", "b-c"}
    assert "exactly one of these sets of arguments: (a) | (b-c)" in shown["description"]


def test_a_long_description_is_cut_for_openai_but_keeps_the_price() -> None:
    catalog = _catalog(obj(), "word " * 400)

    openai_text = parts("openai", formats.render(catalog, catalog, "openai")[0])[1]
    anthropic_text = parts("anthropic", formats.render(catalog, catalog, "anthropic")[0])[1]

    assert len(openai_text) == 1024
    assert openai_text.endswith("…\n\nPrice: 2.5 credits per call.")
    assert len(anthropic_text) > 2000


def test_chained_refs_are_hoisted_into_defs_not_expanded() -> None:
    schema, _ = TABLE["chained $refs outside $defs that fan out (issue 9 item 11 shape)"]
    catalog = _catalog(schema)

    shown = parts("openai", formats.render(catalog, catalog, "openai")[0])[2]

    assert sorted(shown["$defs"]) == sorted(f"components_L{i}" for i in range(13))
    assert shown["properties"]["top"] == {"$ref": "#/$defs/components_L0"}
    assert len(json.dumps(shown)) < 4_000
