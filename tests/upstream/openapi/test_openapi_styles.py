"""Parameters on the wire as declared: `style`, `explode` and `allowReserved` in every location
(OpenAPI 3.0.3 §4.7.12.4, 3.1.1 §4.8.12.4, RFC 6570), checked against the specification's own
table and against what a real server receives (issue 9 item 9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstream.harness import gateway_over
from tests.upstream.servers import serving
from toolwire.core.errors import InvalidArguments
from toolwire.upstream.http import styles
from toolwire.upstream.http.styles import Style

BLUE = "blue"
COLORS = ["blue", "black", "brown"]
RGB = {"R": 100, "G": 200, "B": 150}

# The specification's style examples (parameter `color`), with label/matrix per RFC 6570.
PATH_TABLE = [
    ("simple", False, BLUE, "blue"),
    ("simple", False, COLORS, "blue,black,brown"),
    ("simple", False, RGB, "R,100,G,200,B,150"),
    ("simple", True, RGB, "R=100,G=200,B=150"),
    ("label", False, BLUE, ".blue"),
    ("label", False, COLORS, ".blue,black,brown"),
    ("label", True, COLORS, ".blue.black.brown"),
    ("label", False, RGB, ".R,100,G,200,B,150"),
    ("label", True, RGB, ".R=100.G=200.B=150"),
    ("matrix", False, "", ";color"),
    ("matrix", False, BLUE, ";color=blue"),
    ("matrix", False, COLORS, ";color=blue,black,brown"),
    ("matrix", True, COLORS, ";color=blue;color=black;color=brown"),
    ("matrix", False, RGB, ";color=R,100,G,200,B,150"),
    ("matrix", True, RGB, ";R=100;G=200;B=150"),
]
QUERY_TABLE = [
    ("form", False, BLUE, "color=blue"),
    ("form", False, COLORS, "color=blue,black,brown"),
    ("form", True, COLORS, "color=blue&color=black&color=brown"),
    ("form", False, RGB, "color=R,100,G,200,B,150"),
    ("form", True, RGB, "R=100&G=200&B=150"),
    ("spaceDelimited", False, COLORS, "color=blue%20black%20brown"),
    ("spaceDelimited", False, RGB, "color=R%20100%20G%20200%20B%20150"),
    ("pipeDelimited", False, COLORS, "color=blue|black|brown"),
    ("pipeDelimited", False, RGB, "color=R|100|G|200|B|150"),
    ("deepObject", True, RGB, "color[R]=100&color[G]=200&color[B]=150"),
]


@pytest.mark.parametrize(("style", "explode", "value", "wire"), PATH_TABLE)
def test_path_styles_follow_the_specification_table(
    style: str, explode: bool, value: Any, wire: str
) -> None:
    assert styles.path_segment("color", value, Style(style, explode)) == wire


@pytest.mark.parametrize(("style", "explode", "value", "wire"), QUERY_TABLE)
def test_query_styles_follow_the_specification_table(
    style: str, explode: bool, value: Any, wire: str
) -> None:
    pairs = styles.query_pairs("color", value, Style(style, explode))
    assert styles.query_string(pairs) == wire


def test_values_are_encoded_by_allow_list_and_delimiters_stay_distinct() -> None:
    form = Style("form", explode=False)
    assert styles.query_string(styles.query_pairs("q", ["a,b", "c&d=e"], form)) == (
        "q=a%2Cb,c%26d%3De"
    )
    assert styles.path_segment("p", "a/b?c", Style("simple", False)) == "a%2Fb%3Fc"
    kept = Style("form", explode=True, allow_reserved=True)
    assert styles.query_pairs("next", "/a/b?x:y@z,1", kept) == [("next", "/a/b?x:y@z,1")]
    # allowReserved never lets a value add parameters or end the query
    assert styles.query_pairs("next", "a&admin=1#f+g", kept) == [("next", "a%26admin%3D1%23f%2Bg")]


def test_headers_and_cookies_are_written_in_their_styles() -> None:
    simple = Style("simple", explode=False)
    assert styles.header_value("X-Tags", ["a", "b"], simple) == "a,b"
    assert styles.header_value("X-Obj", RGB, Style("simple", True)) == "R=100,G=200,B=150"
    assert styles.cookie_pairs("id", [3, 4], Style("form", True)) == ["id=3", "id=4"]
    assert styles.cookie_pairs("id", [3, 4], Style("form", False)) == ["id=3,4"]
    assert styles.cookie_pairs("s", "a; b=c", Style("form", True)) == ["s=a%3B%20b=c"]


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "nul\x00", "é"])
def test_a_header_value_outside_printable_ascii_is_refused(value: str) -> None:
    with pytest.raises(InvalidArguments):
        styles.header_value("X-Trace", value, Style("simple", False))


@pytest.mark.parametrize("path", ["/items/..", "/items/.", "/items/%2e%2E", "/items/%252e%252e"])
def test_a_path_segment_is_never_a_dot_segment_in_any_encoding(path: str) -> None:
    with pytest.raises(InvalidArguments):
        styles.check_path(path, "id")


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "styles", "version": "1"},
    "paths": {
        "/search": {
            "get": {
                "operationId": "search",
                "parameters": [
                    {
                        "name": "filter",
                        "in": "query",
                        "style": "deepObject",
                        "explode": True,
                        "schema": {"type": "object", "properties": {"status": {"type": "string"}}},
                    },
                    {
                        "name": "ids",
                        "in": "query",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "integer"}},
                    },
                    {
                        "name": "pipes",
                        "in": "query",
                        "style": "pipeDelimited",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {
                        "name": "next",
                        "in": "query",
                        "allowReserved": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "where",
                        "in": "query",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    {
                        "name": "X-Tags",
                        "in": "header",
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
            }
        },
        "/items/{id}/{labels}/{attrs}": {
            "get": {
                "operationId": "item",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "labels",
                        "in": "path",
                        "required": True,
                        "style": "label",
                        "explode": True,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {
                        "name": "attrs",
                        "in": "path",
                        "required": True,
                        "style": "matrix",
                        "explode": True,
                        "schema": {"type": "object"},
                    },
                ],
            }
        },
    },
}


def recorder(received: list[dict[str, Any]]) -> Starlette:
    async def record(request: Request) -> Response:
        received.append(
            {
                "path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": dict(request.headers),
            }
        )
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{rest:path}", record)])


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    with serving(recorder(received)) as served:
        yield served.url, received


async def test_declared_styles_reach_a_real_server_as_declared(
    upstream: tuple[str, list[dict[str, Any]]], sqlite_url: str, tmp_path: Path
) -> None:
    url, received = upstream
    (tmp_path / "styles.yaml").write_text(yaml.safe_dump(SPEC))
    config = {
        "openapi": {"s": {"spec": "styles.yaml", "base_url": url, "allow_private_networks": True}}
    }
    async with gateway_over(sqlite_url, config, base_dir=tmp_path) as h:
        got = await h.call(
            "s.search",
            filter={"status": "open"},
            ids=[1, 2],
            pipes=["a", "b|c"],
            next="/page/2?x=1",
            where={"a": 1},
            **{"X-Tags": ["a", "b"]},
            session="s1",
        )
        assert got.ok, got.error
        sent = received[-1]
        assert sent["query"] == (
            "filter[status]=open&ids=1,2&pipes=a|b%7Cc&next=/page/2?x%3D1&where=%7B%22a%22%3A1%7D"
        )
        assert sent["headers"]["x-tags"] == "a,b"  # issue 9 item 9: not ["a","b"]
        assert sent["headers"]["cookie"] == "session=s1"
        got = await h.call("s.item", id="a b/c", labels=["x", "y"], attrs={"k": "v"})
        assert got.ok, got.error
        assert received[-1]["path"] == "/items/a%20b%2Fc/.x.y/;k=v"
        walked = await h.call("s.item", id="..", labels=["x"], attrs={})
        assert walked.error is not None and walked.error.code == "INVALID_ARGUMENTS"


@pytest.mark.parametrize(
    "segment",
    ["..", "%2e%2E", "%252e%252e", ".%2e", "%c0%ae%c0%ae", "\uff0e\uff0e", "\u2025", "...", ".. "],
)
def test_an_openapi_path_refuses_every_dot_segment_form_the_hand_written_builder_refuses(
    segment: str,
) -> None:
    """OpenAPI path styles and `{name}` templates share one dot-segment check (`segments.py`)."""
    with pytest.raises(InvalidArguments):
        styles.check_path(f"/items/{segment}/detail", "id")
    styles.check_path("/items/a.b/detail", "id")  # a dot inside a segment is fine
