"""A spec given by URL is fetched once, through the SSRF guard (issue 8 item 15, issue 9 item
16): private addresses refused unless the import allows them, redirects not followed, the size
capped; `toolwire serve` builds the catalog once, so the URL is fetched once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.upstream.servers import serving
from toolwire.app import create_app, prepare
from toolwire.settings import Settings
from toolwire.upstream.openapi import OpenAPIError, document, fetch, load_document

PETSTORE = Path(__file__).parent.parent / "fixtures" / "petstore.yaml"
ADMIN = "tw_admin_fetch_test_key_0123456789abcdef"


def spec_server(hits: list[str]) -> Starlette:
    async def spec(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(PETSTORE.read_bytes(), media_type="application/yaml")

    async def moved(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("/spec.yaml", 302)

    return Starlette(routes=[Route("/spec.yaml", spec), Route("/moved", moved)])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    with serving(spec_server(hits)) as server:
        yield server.url, hits


def test_a_spec_url_on_a_private_address_is_refused_by_default(
    served: tuple[str, list[str]],
) -> None:
    url, hits = served
    before = len(hits)
    with pytest.raises(OpenAPIError, match="non-public address"):
        load_document(f"{url}/spec.yaml")
    assert len(hits) == before  # refused before connecting


def test_an_import_that_allows_private_networks_fetches_its_spec(
    served: tuple[str, list[str]],
) -> None:
    url, _ = served
    loaded = load_document(f"{url}/spec.yaml", allow_private_networks=True)
    assert loaded.title and loaded.source == f"{url}/spec.yaml"


def test_redirects_are_not_followed(served: tuple[str, list[str]]) -> None:
    url, hits = served
    with pytest.raises(OpenAPIError, match=r"redirected to /spec\.yaml"):
        load_document(f"{url}/moved", allow_private_networks=True)
    assert hits[-1] == "/moved"


def test_a_spec_over_the_size_cap_is_refused(
    served: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = served
    monkeypatch.setattr(fetch, "MAX_SPEC_BYTES", 100)
    with pytest.raises(OpenAPIError, match="larger than 100 bytes"):
        load_document(f"{url}/spec.yaml", allow_private_networks=True)


def test_yaml_is_parsed_with_libyaml_when_it_is_there() -> None:
    if yaml.__with_libyaml__:
        assert document._YAML_LOADER is yaml.CSafeLoader


def test_serve_builds_the_catalog_once_and_fetches_the_spec_once(
    served: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, hits = served
    entry: dict[str, Any] = {
        "spec": f"{url}/spec.yaml",
        "base_url": f"{url}/v1",
        "allow_private_networks": True,
    }
    (tmp_path / "toolwire.yaml").write_text(yaml.safe_dump({"openapi": {"pets": entry}}))
    settings = Settings(data_dir=tmp_path, admin_key=ADMIN, config=tmp_path / "toolwire.yaml")
    before = len(hits)
    prepared = prepare(settings)  # what `toolwire serve` does before starting
    with TestClient(create_app(settings, prepared=prepared)) as http:
        listed = http.get("/api/v1/tools", headers={"authorization": f"Bearer {ADMIN}"})
        assert listed.status_code == 200
        assert any(t["tool"] == "pets" for t in listed.json()["tools"])
    assert hits[before:] == ["/spec.yaml"]
