"""The HTTP adapter's per-call request: `json_request` makes the request `httpx.Request(...,
content=...)` makes (what `CredentialGuard` checks and `Http1Pool` sends), and an upstream's
cached URLs and fixed headers are what parsing and merging each call would give; a compiled
`Expression` searches as `jmespath` does."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import httpx
import jmespath
import pytest

from toolwire.upstream.http.adapter import (
    URL_CACHE_SIZE,
    HttpUpstream,
    UpstreamSpec,
    json_request,
)
from toolwire.upstream.http.request import Expression, compile_expression
from toolwire.vault import Redactor

URLS = ["http://api.test/v1/x", "https://api.test:8443/a%20b?c=1", "http://[::1]:81/"]
HEADER_SETS: list[dict[str, str]] = [
    {},
    {"Accept": "text/plain", "X-Trace": "t"},
    {"Host": "elsewhere.test"},
    {"Content-Length": "3"},
    {"Transfer-Encoding": "chunked"},
    {"content-type": "application/x-ndjson", "X-Dup": "1"},
]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "post"])
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("extra", HEADER_SETS)
@pytest.mark.parametrize("content", [None, b'{"a":1}'])
def test_json_request_is_httpx_request(
    method: str, url: str, extra: dict[str, str], content: bytes | None
) -> None:
    headers = httpx.Headers({"User-Agent": "toolwire", **extra})
    expected = httpx.Request(method, httpx.URL(url), headers=headers, content=content)
    made = json_request(method, httpx.URL(url), headers, content)
    assert made.method == expected.method
    assert made.url == expected.url
    assert made.headers.raw == expected.headers.raw
    assert made.content == expected.content
    assert headers.raw == httpx.Headers({"User-Agent": "toolwire", **extra}).raw  # not changed


def upstream(**headers: str) -> HttpUpstream:
    spec = UpstreamSpec(name="api", base_url="http://api.test/v1", headers=headers)
    return HttpUpstream(spec, Redactor())


@pytest.mark.parametrize("json_body", [False, True])
@pytest.mark.parametrize("configured", [{}, {"Accept": "text/csv", "User-Agent": "mine"}])
def test_fixed_headers_are_the_merged_ones(json_body: bool, configured: dict[str, str]) -> None:
    up = upstream(**configured)
    merged = up.base_headers.copy()
    if json_body:
        merged["Content-Type"] = "application/json"
    merged.setdefault("Accept", "application/json")
    assert up.call_headers({}, None, json_body=json_body).raw == merged.raw
    assert up.call_headers({}, {}, json_body=json_body).raw == merged.raw


def test_call_headers_replace_and_add() -> None:
    up = upstream()
    got = up.call_headers(
        {"user-agent": "arg", "X-A": "1"}, {"traceparent": "00-x"}, json_body=True
    )
    assert got.get_list("User-Agent") == ["arg"]
    assert got["X-A"] == "1" and got["traceparent"] == "00-x"
    assert got["Content-Type"] == "application/json"
    # the shared headers are not touched by a call's own
    assert "X-A" not in up.call_headers({}, None, json_body=True)


def test_parsed_urls_are_cached_and_bounded() -> None:
    up = upstream()
    first = up.parsed("http://api.test/v1/a")
    assert up.parsed("http://api.test/v1/a") is first
    assert first == httpx.URL("http://api.test/v1/a")
    for n in range(URL_CACHE_SIZE + 5):
        assert up.parsed(f"http://api.test/v1/{n}") == httpx.URL(f"http://api.test/v1/{n}")
    assert len(up._urls) <= URL_CACHE_SIZE
    with pytest.raises(httpx.InvalidURL):
        up.parsed("http://[::1")
    assert "http://[::1" not in up._urls


EXPRESSIONS = [
    "{message: message}",
    "items[?n > `1`].name",
    "sort_by(items, &n)[].name",
    "length(items) || `0`",
    "to_string(missing)",
    "{a: a.b, c: join(',', tags)}",
]
DOCUMENTS: list[Any] = [
    {"message": "hello", "items": [{"n": 2, "name": "b"}, {"n": 1, "name": "a"}], "tags": ["x"]},
    {"a": {"b": [1, 2]}, "tags": []},
    None,
    [1, 2],
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_expression_searches_as_jmespath_does(text: str) -> None:
    compiled = compile_expression(text, "test")
    assert isinstance(compiled, Expression)
    reference = jmespath.compile(text)
    for _ in range(2):  # the interpreter is reused: a second pass gives the same answers
        for document in DOCUMENTS:
            try:
                expected: Any = ("ok", reference.search(document))
            except jmespath.exceptions.JMESPathError as exc:
                expected = ("error", type(exc))
            try:
                got: Any = ("ok", compiled.search(document))
            except jmespath.exceptions.JMESPathError as exc:
                got = ("error", type(exc))
            assert got == expected


def test_expression_takes_options() -> None:
    compiled = compile_expression("{b: b, a: a}", "test")
    assert compiled is not None
    found = compiled.search({"a": 1, "b": 2}, jmespath.Options(dict_cls=OrderedDict))
    assert isinstance(found, OrderedDict) and list(found) == ["b", "a"]
    assert compile_expression(None, "test") is None
    with pytest.raises(ValueError, match="invalid JMESPath"):
        compile_expression("{a:", "test")
