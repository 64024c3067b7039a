"""Request building: a path placeholder is one segment, never a dot segment in any encoding a
server might decode; placeholders after `?` are query text; `{+name}` inserts a URL as it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.upstream.harness import gateway_over
from tests.upstream.http_app import Recorder
from tests.upstream.servers import Served, serving
from toolwire.core.errors import InvalidArguments
from toolwire.upstream.http.request import fill_url, path_segment

DOT_SEGMENTS = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    ".%2E",
    "%2e",
    "%252e%252E",
    "%25252e.",
    "%c0%ae%c0%ae",  # overlong UTF-8, decoded by lax servers
    "%e0%80%ae.",
    "\uff0e\uff0e",  # full-width full stops (NFKC)
    "\u2025",  # two dot leader (NFKC: "..")
    "\u3002\u3002",  # ideographic full stops
    "...",
    ".. ",
    "a%2F..%2Fb",  # a server that decodes once, then splits on "/"
    "a%252F..%252Fb",
    "..\\x",  # a backslash as separator
    "",
]


@pytest.mark.parametrize("value", DOT_SEGMENTS)
def test_a_segment_that_could_be_a_dot_segment_after_decoding_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="path segment"):
        path_segment(value)


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("a b&c?d", "a%20b%26c%3Fd"),
        ("a/b", "a%2Fb"),
        ("..a", "..a"),
        ("v1.2", "v1.2"),
        (".well-known", ".well-known"),
        ("%2e", None),
        ("é", "%C3%A9"),
    ],
)
def test_ordinary_values_are_one_encoded_segment(value: str, segment: str | None) -> None:
    if segment is None:
        with pytest.raises(ValueError):
            path_segment(value)
    else:
        assert path_segment(value) == segment


def test_the_refusal_names_the_argument() -> None:
    with pytest.raises(InvalidArguments) as caught:
        fill_url("/items/{id}/detail", {"id": ".."})
    assert caught.value.details == {
        "errors": [
            {"path": "/id", "message": "a path segment cannot be '.' or '..' in any encoding"}
        ]
    }


def test_query_placeholders_and_reserved_expansion_are_not_path_segments() -> None:
    url, used = fill_url(
        "/search/{kind}?q={q}&after={+cursor}", {"kind": "a", "q": "..", "cursor": "x/y"}
    )
    assert (url, used) == ("/search/a?q=..&after=x/y", {"kind", "q", "cursor"})


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[Recorder, Served]]:
    state = Recorder()
    with serving(state.app()) as served:
        yield state, served


@pytest.mark.parametrize("value", ["..", "%2e%2e", ".%2E", "\uff0e\uff0e"])
async def test_a_dot_segment_never_reaches_the_upstream_and_is_not_charged(
    recorder: tuple[Recorder, Served], sqlite_url: str, value: str
) -> None:
    state, served = recorder
    before = len(state.requests)
    schema: dict[str, Any] = {"type": "object", "properties": {"id": {"type": "string"}}}
    cfg = {
        "upstreams": {"u": {"base_url": served.url, "allow_private_networks": True}},
        "tools": {
            "t": {
                "description": "t",
                "operations": {
                    "get": {
                        "upstream": "u",
                        "description": "d",
                        "input_schema": schema,
                        "path": "/items/{id}/detail",
                    }
                },
            }
        },
        "prices": {"t": 1},
    }
    async with gateway_over(sqlite_url, cfg) as h:
        got = await h.call("t.get", id=value)
        fine = await h.call("t.get", id="7")
    assert got.error is not None and got.error.code == "INVALID_ARGUMENTS"
    assert got.error.details["errors"][0]["path"] == "/id"
    assert got.meta.credits_charged == 0
    assert [r["url"] for r in state.requests[before:]] == [f"{served.url}/items/7/detail"]
    assert fine.ok
