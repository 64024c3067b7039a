"""Every tool of every test catalog, in every format, passes that vendor's SDK types and
documented rules (issue 9 item 8); definitions are computed once per catalog and format."""

from __future__ import annotations

import pytest

from tests.inbound.formats.catalogs import catalogs, every_operation
from tests.inbound.formats.vendor_rules import FORMATS, parts, sdk_check, violations
from toolwire.core.catalog import Catalog, Operation
from toolwire.inbound import formats


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("catalog_name", "qualified"), every_operation())
def test_every_definition_passes_the_vendor_sdk_types_and_documented_rules(
    catalog_name: str, qualified: str, fmt: str
) -> None:
    catalog = catalogs()[catalog_name]
    op = catalog.get(qualified)
    assert op is not None
    [definition] = formats.render(catalog, [op], fmt)

    sdk_check(fmt, definition)
    assert violations(fmt, definition) == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("catalog_name", sorted(catalogs()))
def test_every_name_shown_maps_back_to_its_operation(catalog_name: str, fmt: str) -> None:
    catalog = catalogs()[catalog_name]
    shown = formats.render(catalog, catalog, fmt)

    back = [formats.inbound(catalog, fmt, parts(fmt, d)[0], {})[:2] for d in shown]

    assert back == [(op.tool, op.name) for op in catalog]


def test_the_catalogs_hold_the_conformance_profile_and_every_openapi_document() -> None:
    held = {name: {op.tool for op in catalog} for name, catalog in catalogs().items()}

    assert {"test_simple_text", "echo", "calc", "fail"} <= held["builtins"]
    assert {"openapi-petstore", "openapi-library", "openapi-vendorkeys"} <= set(held)


def test_definitions_are_computed_once_per_catalog_and_format() -> None:
    catalog: Catalog = catalogs()["openapi-vendorkeys"]

    first = formats.render(catalog, catalog, "anthropic")
    again = formats.render(catalog, catalog, "anthropic")

    assert all(a is b for a, b in zip(first, again, strict=True))
    assert formats.view(catalog, "anthropic") is formats.view(catalog, "anthropic")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_name_a_vendor_would_refuse_is_shortened_with_a_hash_and_maps_back(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = catalogs()["openapi-petstore"]
    catalog = Catalog([])  # a fresh catalog object: views are cached per catalog
    catalog.__dict__.update(source.__dict__)
    monkeypatch.setattr(Operation, "external", lambda op, _fmt: f"ü.{op.tool}.{op.name}" * 4)

    shown = formats.render(catalog, catalog, fmt)

    for op, definition in zip(catalog, shown, strict=True):
        name = parts(fmt, definition)[0]
        assert violations(fmt, definition) == []
        assert formats.inbound(catalog, fmt, name, {})[:2] == (op.tool, op.name)
    assert len({parts(fmt, d)[0] for d in shown}) == len(shown)
