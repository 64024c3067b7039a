"""The import's one decision per operation, under hostile and oversized documents (issue 9 items
11, 12, 14, 15): chained references stay linear, schemas the validator cannot compile are hidden
with the reason (and `inspect` and the catalog agree), names never collapse, and a schema budget
in estimated tokens slims or hides giant tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolwire.config import build_catalog, parse_config
from toolwire.upstream.openapi import Curation, Limits, check_document, plan
from toolwire.upstream.openapi.budget import estimate_tokens
from toolwire.upstream.openapi.schemas import SchemaSet

WRITES = Curation(allow_methods=frozenset({"POST", "PUT", "PATCH", "DELETE"}))


def doc(paths: dict[str, Any], schemas: dict[str, Any] | None = None, v: str = "3.0.3") -> Any:
    raw: dict[str, Any] = {"openapi": v, "info": {"title": "t", "version": "1"}, "paths": paths}
    if schemas:
        raw["components"] = {"schemas": schemas}
    return raw


def post_body(ref: str, op_id: str = "create") -> dict[str, Any]:
    return {
        "post": {
            "operationId": op_id,
            "requestBody": {"content": {"application/json": {"schema": {"$ref": ref}}}},
        }
    }


def chain(depth: int) -> dict[str, Any]:
    """Schemas L0..L{depth-1}, each with 4 properties referring to the next (the issue's shape)."""
    schemas: dict[str, Any] = {}
    for i in range(depth):
        nxt = {"$ref": f"#/components/schemas/L{i + 1}"} if i + 1 < depth else {"type": "string"}
        schemas[f"L{i}"] = {"type": "object", "properties": {f"p{j}": nxt for j in range(4)}}
    return schemas


@pytest.mark.parametrize("depth", [12, 200])
def test_chained_refs_stay_linear_and_are_kept_as_defs(depth: int) -> None:
    document = check_document(doc({"/x": post_body("#/components/schemas/L0")}, chain(depth)))
    (entry,) = plan(document, WRITES)
    assert entry.exposed, entry.reason
    assert sorted(entry.input_schema["$defs"]) == sorted(f"L{i}" for i in range(1, depth))
    assert entry.input_schema["properties"]["p0"] == {"$ref": "#/$defs/L1"}
    assert entry.schema_tokens < 60 * depth  # linear: each definition once


def test_a_schema_over_the_node_cap_hides_its_operation_with_the_reason() -> None:
    document = check_document(doc({"/x": post_body("#/components/schemas/L0")}, chain(12)))
    got = SchemaSet(document, max_nodes=50)
    converted = got.convert({"$ref": "#/components/schemas/L0"})
    with pytest.raises(Exception, match="over the limit of 50"):
        got.defs_for(converted)


def test_a_reference_chain_between_parameters_that_loops_fails_with_its_location() -> None:
    raw = doc({"/x": {"get": {"parameters": [{"$ref": "#/components/parameters/A"}]}}})
    raw["components"] = {
        "parameters": {
            "A": {"$ref": "#/components/parameters/B"},
            "B": {"$ref": "#/components/parameters/A"},
        }
    }
    with pytest.raises(ValueError, match=r"paths\./x\.get\.parameters\[0\]"):
        plan(check_document(raw), Curation())


@pytest.mark.parametrize(
    "schema",
    [
        {"$recursiveAnchor": True, "type": "object"},  # the (OpenAI spec) shape
        {"$dynamicRef": 5},
        {"type": "object", "properties": {"a": {"type": "nonsense"}}},
        {"type": "object", "required": "a"},
    ],
)
def test_a_schema_the_validator_cannot_compile_is_hidden_and_the_catalog_agrees(
    schema: dict[str, Any], tmp_path: Path
) -> None:
    raw = doc(
        {
            "/r": post_body("#/components/schemas/S", "createResponse"),
            "/ok": {"get": {"operationId": "fine"}},
        },
        {"S": schema},
        v="3.1.0",
    )
    planned = {p.operation_id: p for p in plan(check_document(raw), WRITES)}
    assert not planned["createResponse"].exposed
    assert "cannot compile" in planned["createResponse"].reason
    (tmp_path / "s.json").write_text(json.dumps(raw))
    entry = {"spec": "s.json", "base_url": "https://x.test", "allow_methods": ["POST"]}
    config = parse_config({"builtins": {"include": []}, "openapi": {"o": entry}}, base_dir=tmp_path)
    catalog = build_catalog(config)  # serving does not fail
    exposed = sorted(p.name for p in planned.values() if p.exposed)
    assert sorted(op.name for op in catalog) == exposed == ["fine"]


def test_non_ascii_operation_ids_fall_back_to_method_and_path_names() -> None:
    raw = doc(
        {
            "/users": {"get": {"operationId": "获取用户列表"}},
            "/users/{id}": {
                "delete": {
                    "operationId": "删除用户",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            },
        }
    )
    planned = plan(check_document(raw), WRITES)
    assert [(p.name, p.exposed) for p in planned] == [
        ("get_users", True),
        ("delete_users_id", True),
    ]


def test_names_that_collide_after_truncation_or_folding_are_made_unique() -> None:
    long = "listRepositoryInvitationsForAuthenticatedUser"
    raw = doc(
        {
            "/a": {"get": {"operationId": long}},
            "/b": {"get": {"operationId": long + "Again"}},
            "/c": {"get": {"operationId": "list-pets"}},
            "/d": {"get": {"operationId": "list_pets"}},
            "/e": {"get": {"operationId": "ListPets"}},
        }
    )
    planned = plan(check_document(raw), Curation())
    names = [p.name for p in planned]
    assert all(p.exposed for p in planned)
    assert len(set(names)) == len(names) == 5
    assert all(len(n) <= 30 for n in names)


def giant(enum_size: int = 400, props: int = 300) -> dict[str, Any]:
    inner = {
        f"field_{i}": {"type": "string", "description": "A long description. " * 8}
        for i in range(props)
    }
    inner["kind"] = {"type": "string", "enum": [f"value_{i}" for i in range(enum_size)]}
    return {
        "Big": {
            "type": "object",
            "required": ["settings"],
            "properties": {
                "name": {"type": "string", "description": "Top-level: kept."},
                "settings": {"type": "object", "properties": inner},
            },
        }
    }


def test_a_giant_schema_is_slimmed_to_the_budget() -> None:
    document = check_document(doc({"/x": post_body("#/components/schemas/Big")}, giant()))
    (full,) = plan(document, WRITES, limits=Limits(max_schema_tokens=10**9))
    (entry,) = plan(document, WRITES, limits=Limits(max_schema_tokens=3000))
    assert full.schema_tokens > 15_000 and not full.slimmed
    assert entry.exposed and entry.slimmed, entry.reason
    assert entry.schema_tokens == estimate_tokens(entry.input_schema) <= 3000
    props = entry.input_schema["properties"]
    assert props["name"]["description"] == "Top-level: kept."
    kind = props["settings"]["properties"]["kind"]
    assert "enum" not in kind and kind["description"].startswith("One of 400 values")


def test_a_schema_still_over_budget_or_with_oversize_hide_is_hidden_with_the_reason() -> None:
    document = check_document(doc({"/x": post_body("#/components/schemas/Big")}, giant()))
    (hidden,) = plan(document, WRITES, limits=Limits(max_schema_tokens=6000, oversize="hide"))
    assert not hidden.exposed
    assert hidden.reason.startswith("schema too large: ~")
    assert "budget of 6000 (max_schema_tokens)" in hidden.reason
    (tiny,) = plan(document, WRITES, limits=Limits(max_schema_tokens=100))
    assert not tiny.exposed and tiny.slimmed


def test_a_path_placeholder_without_its_parameter_hides_the_operation() -> None:
    raw = doc(
        {
            "/items/{id}": {"get": {"operationId": "noParam"}},
            "/items/{id}/x": {
                "get": {
                    "operationId": "declared",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            },
        }
    )
    got = {p.operation_id: p for p in plan(check_document(raw), Curation())}
    assert (
        got["noParam"].reason
        == "no usable schema: path placeholder {id} has no usable path parameter"
    )
    assert got["declared"].exposed
