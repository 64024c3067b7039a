"""OpenAPI import: two real-world-style documents (a petstore-like 3.0 YAML, a $ref-heavy 3.1
JSON), curated, compiled to tool operations and called against local servers implementing them;
invalid documents refused with the location of the problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.upstream.harness import gateway_over
from tests.upstream.openapi_apps import library, petstore
from tests.upstream.servers import serving
from toolwire.config import ConfigError, build_catalog, parse_config
from toolwire.upstream.openapi import (
    Curation,
    OpenAPIError,
    Rule,
    check_document,
    load_document,
    plan,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
PETSTORE = FIXTURES / "petstore.yaml"
LIBRARY = FIXTURES / "library.json"


@pytest.fixture(scope="module")
def pet_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    with serving(petstore(received)) as served:
        yield served.url, received


@pytest.fixture(scope="module")
def library_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    with serving(library(received)) as served:
        yield served.url, received


def decisions(curation: Curation, path: Path = PETSTORE) -> dict[str, str]:
    return {
        p.operation_id: ("exposed" if p.exposed else p.reason)
        for p in plan(load_document(str(path)), curation)
    }


def test_by_default_only_safe_current_operations_with_usable_schemas_are_exposed() -> None:
    got = decisions(Curation())
    assert {k for k, v in got.items() if v == "exposed"} == {
        "listPets",
        "showPetById",
        "getInventory",
        "get_legacy",  # its required cookie parameter is an argument, sent as `Cookie:`
    }
    assert got["createPet"].startswith("POST changes state")
    assert got["deletePet"].startswith("DELETE changes state")
    assert got["adminStats"].startswith("deprecated")


def test_allowing_methods_exposes_them_unless_their_schema_is_unusable() -> None:
    got = decisions(Curation(allow_methods=frozenset({"POST", "DELETE"})))
    assert got["createPet"] == got["deletePet"] == "exposed"
    assert (
        got["uploadFile"]
        == "no usable schema: request body has no JSON media type (has application/octet-stream)"
    )


def test_include_and_exclude_rules_select_by_tag_operation_path_and_method() -> None:
    by_tag = decisions(Curation(include=(Rule(tags=("store",)),)))
    assert [k for k, v in by_tag.items() if v == "exposed"] == ["getInventory"]
    excluded = decisions(Curation(exclude=(Rule(operations=("show*",)), Rule(paths=("/store/*",)))))
    assert [k for k, v in excluded.items() if v == "exposed"] == ["listPets", "get_legacy"]
    by_method = decisions(
        Curation(include=(Rule(methods=("DELETE",)),), allow_methods=frozenset({"DELETE"}))
    )
    assert [k for k, v in by_method.items() if v == "exposed"] == ["deletePet"]


def test_annotations_follow_the_method() -> None:
    planned = {
        p.operation_id: p.annotations
        for p in plan(
            load_document(str(PETSTORE)), Curation(allow_methods=frozenset({"POST", "DELETE"}))
        )
    }
    assert planned["listPets"].to_mcp() == {
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": True,
    }
    assert planned["deletePet"].destructive is True and planned["deletePet"].idempotent is True
    assert planned["createPet"].read_only is False and planned["createPet"].idempotent is False


def pet_config(url: str, **more: Any) -> dict[str, Any]:
    return {
        "openapi": {
            "pets": {
                "spec": str(PETSTORE),
                "base_url": f"{url}/v1",
                "allow_private_networks": True,
                "allow_methods": ["POST"],
                "exclude": {"operations": ["uploadFile"]},
                "operations": {
                    "listPets": {"name": "list", "description": "List pets, optionally by tag."},
                    "showPetById": {"name": "get"},
                },
                **more,
            }
        },
        "prices": {"pets": 1},
    }


async def test_petstore_operations_are_called_with_their_path_query_header_and_body(
    pet_server: tuple[str, list[dict[str, Any]]], sqlite_url: str
) -> None:
    url, received = pet_server
    async with gateway_over(sqlite_url, pet_config(url)) as h:
        names = sorted(op.qualified for op in h.gateway.catalog)
        assert names == [
            "pets.create_pet",
            "pets.get",
            "pets.get_inventory",
            "pets.get_legacy",
            "pets.list",
        ]
        listed = await h.call("pets.list", limit=2)
        assert listed.ok, listed.error
        assert [p["name"] for p in listed.data] == ["Rex", "Tom"]
        shown = await h.call("pets.get", petId="3")
        assert shown.data == {"id": 3, "name": "Polly", "tag": None}
        created = await h.call("pets.create_pet", name="Kit", tag=None)
        assert created.data == {"id": 4, "name": "Kit", "tag": None}
        inventory = await h.call("pets.get_inventory", **{"X-Request-Id": "r-1"})
        assert inventory.data == {"available": 2, "sold": 1}
        missing = await h.call("pets.get", petId="99")
        assert missing.error is not None
        assert (missing.error.code, missing.error.details["status"]) == ("UPSTREAM_ERROR", 404)
    assert received[-2] == {"op": "getInventory", "request_id": "r-1"}
    assert {"op": "createPet", "body": {"name": "Kit", "tag": None}} in received


async def test_arguments_are_validated_against_the_merged_schema_before_the_upstream(
    pet_server: tuple[str, list[dict[str, Any]]], sqlite_url: str
) -> None:
    url, received = pet_server
    async with gateway_over(sqlite_url, pet_config(url)) as h:
        schema = h.gateway.catalog.resolve("pets", "create_pet").input_schema
        assert "id" not in schema["properties"]  # readOnly: not an input
        assert schema["required"] == ["name"]
        before = len(received)
        for name, args in (
            ("pets.list", {"limit": 1000}),
            ("pets.create_pet", {"tag": "x"}),
            ("pets.get", {}),
        ):
            got = await h.call(name, **args)
            assert got.error is not None and got.error.code == "INVALID_ARGUMENTS"
        assert len(received) == before


def library_config(url: str) -> dict[str, Any]:
    return {
        "openapi": {
            "library": {
                "spec": str(LIBRARY),
                "base_url": f"{url}/api",
                "allow_private_networks": True,
                "include": [{"tags": ["books"]}],
                "exclude": {"operations": ["create*"]},
                "allow_methods": ["POST"],
                "operations": {
                    "searchBooks": {
                        "name": "search",
                        "description": "Find books by title words, optionally by author.",
                    }
                },
            }
        }
    }


async def test_a_ref_heavy_31_document_is_resolved_curated_and_called(
    library_server: tuple[str, list[dict[str, Any]]], sqlite_url: str
) -> None:
    url, received = library_server
    async with gateway_over(sqlite_url, library_config(url)) as h:
        ops = {op.name: op for op in h.gateway.catalog}
        assert sorted(ops) == ["get_book", "search"]
        schema = ops["search"].input_schema
        assert schema["properties"]["query"] == {  # 3.1: siblings of $ref kept, as allOf
            "allOf": [{"$ref": "#/$defs/Query"}],
            "description": "What to look for",
        }
        assert schema["properties"]["filters"] == {"$ref": "#/$defs/Filters"}
        assert sorted(schema["$defs"]) == ["AuthorRef", "Filters", "Query"]
        assert schema["$defs"]["Filters"]["properties"]["year"]["type"] == ["integer", "null"]
        assert ops["search"].description == "Find books by title words, optionally by author."
        found = await h.call(
            "library.search", query="programmer", filters={"authors": [{"name": "Hunt"}]}
        )
        assert found.ok, found.error
        assert [b["isbn"] for b in found.data] == ["978-0-13-468599-1"]
        book = await h.call("library.get_book", isbn="978-0-262-03384-8", fields=["title"])
        assert book.data == {"isbn": "978-0-262-03384-8", "title": "Introduction to Algorithms"}
        bad = await h.call("library.search", query="x")
        assert bad.error is not None and bad.error.code == "INVALID_ARGUMENTS"
    assert received[-1] == {"op": "getBook", "isbn": "978-0-262-03384-8", "fields": ["title"]}


def test_the_31_plan_explains_every_hidden_operation() -> None:
    curation = Curation(
        include=(Rule(tags=("books",)),),
        exclude=(Rule(operations=("create*",)),),
        allow_methods=frozenset({"POST", "PATCH"}),
    )
    got = decisions(curation, LIBRARY)
    assert got == {
        "searchBooks": "exposed",
        "createBook": "excluded by an exclude rule",
        "getBook": "exposed",
        "updateBook": "exposed",  # application/merge-patch+json is JSON
        "listAuthors": "not matched by any include rule",
    }


def test_a_recursive_schema_is_kept_as_a_reference_to_its_definition() -> None:
    planned = plan(load_document(str(LIBRARY)), Curation(allow_methods=frozenset({"POST"})))
    create = next(p for p in planned if p.operation_id == "createBook")
    assert create.exposed, create.reason
    assert create.input_schema["properties"]["sequel"] == {"$ref": "#/$defs/Book"}
    book = create.input_schema["$defs"]["Book"]
    assert book["properties"]["sequel"] == {"$ref": "#/$defs/Book"}


def _doc(**paths: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ([1, 2], "(top level)"),
        ({"swagger": "2.0", "info": {}, "paths": {}}, "swagger"),
        ({"openapi": "4.0.0", "info": {}, "paths": {}}, "openapi"),
        ({"openapi": "3.0.0", "paths": {}}, "info"),
        ({"openapi": "3.0.0", "info": {}, "paths": []}, "paths"),
        (_doc(pets={"get": {}}), "paths.pets"),
        (_doc(**{"/x": {"get": "nope"}}), "paths./x.get"),
        (
            _doc(**{"/x": {"get": {"parameters": [{"in": "query"}]}}}),
            "paths./x.get.parameters[0].name",
        ),
        (
            _doc(**{"/x": {"get": {"parameters": [{"name": "a", "in": "body"}]}}}),
            "paths./x.get.parameters[0].in",
        ),
        (
            _doc(**{"/x/{a}": {"get": {"parameters": [{"name": "a", "in": "path"}]}}}),
            "paths./x/{a}.get.parameters[0].required",
        ),
        (
            _doc(**{"/x": {"post": {"requestBody": {"$ref": "#/components/requestBodies/Nope"}}}}),
            "paths./x.post.requestBody.$ref",
        ),
        (
            _doc(**{"/x": {"get": {"parameters": [{"$ref": "other.yaml#/P"}]}}}),
            "paths./x.get.parameters[0].$ref",
        ),
    ],
)
def test_an_invalid_document_is_refused_with_the_location_of_the_problem(
    raw: Any, where: str
) -> None:
    with pytest.raises(OpenAPIError) as caught:
        check_document(raw)
    assert caught.value.where == where


def test_a_broken_file_is_reported_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.0\ninfo: {title: t\npaths: {}\n")
    with pytest.raises(OpenAPIError) as caught:
        load_document(str(broken))
    assert caught.value.where.startswith("line ")


def test_a_bad_import_fails_the_catalog_with_file_and_location(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(_doc(**{"/x": {"get": {"parameters": [{"in": "query"}]}}})))
    config = parse_config(
        {"openapi": {"bad": {"spec": "bad.yaml", "base_url": "https://x.invalid"}}},
        "cat.yaml",
        base_dir=tmp_path,
    )
    with pytest.raises(ConfigError) as caught:
        build_catalog(config)
    assert "openapi/bad" in str(caught.value)
    assert "paths./x.get.parameters[0].name" in str(caught.value)
