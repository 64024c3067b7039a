"""The SDK as a package: its public surface, its independence from the server, and how it reads
answers that do not come from a toolwire gateway (mocked only at the HTTP edge)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

import toolwire.client
from toolwire.client import (
    ERRORS_BY_CODE,
    AsyncClient,
    Client,
    PayloadTooLarge,
    RateLimited,
    ToolwireError,
    TransportError,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)

SERVER_CODES = {
    "UNAVAILABLE",
    "INVALID_REQUEST",
    "MISSING_CLIENT_CAPABILITY",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "POLICY_DENIED",
    "TOOL_NOT_FOUND",
    "INVALID_ARGUMENTS",
    "INSUFFICIENT_CREDITS",
    "RATE_LIMITED",
    "BUDGET_EXCEEDED",
    "PAYLOAD_TOO_LARGE",
    "CONFLICT",
    "NOT_FOUND",
    "UPSTREAM_ERROR",
    "UPSTREAM_TIMEOUT",
    "INTERNAL",
}


def test_the_public_api_is_pinned() -> None:
    assert toolwire.client.__all__ == [
        "ERRORS_BY_CODE",
        "Admin",
        "AsyncAdmin",
        "AsyncClient",
        "BudgetExceeded",
        "Client",
        "Conflict",
        "Forbidden",
        "InsufficientCredits",
        "Internal",
        "InvalidArguments",
        "InvalidRequest",
        "Meta",
        "MissingClientCapability",
        "NotFound",
        "PayloadTooLarge",
        "PolicyDenied",
        "RateLimited",
        "Result",
        "ToolFormat",
        "ToolNotFound",
        "ToolwireError",
        "TransportError",
        "TransportTimeout",
        "Unauthenticated",
        "Unavailable",
        "UpstreamError",
        "UpstreamTimeout",
    ]
    for name in toolwire.client.__all__:
        assert getattr(toolwire.client, name) is not None


def test_every_server_error_code_has_its_own_exception_class() -> None:
    from toolwire.core.errors import BY_CODE

    assert set(ERRORS_BY_CODE) == SERVER_CODES == set(BY_CODE)
    for code, cls in ERRORS_BY_CODE.items():
        assert cls.code == code
        assert issubclass(cls, ToolwireError)
    assert issubclass(UpstreamTimeout, UpstreamError)


def test_the_sdk_imports_nothing_from_the_server() -> None:
    script = "import json, sys, toolwire.client; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    loaded = json.loads(out)
    server_side = (
        "toolwire.core",
        "toolwire.inbound",
        "toolwire.store",
        "toolwire.upstream",
        "toolwire.app",
        "toolwire.cli",
        "starlette",
        "sqlalchemy",
        "uvicorn",
        "orjson",
    )
    assert [
        m for m in loaded if m in server_side or m.startswith(tuple(f"{p}." for p in server_side))
    ] == []


def _client(handler: Any) -> Client:
    return Client(
        "http://gateway.test",
        api_key="k",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def test_an_unknown_error_code_raises_the_base_class_with_that_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "ok": False,
            "error": {"code": "BRAND_NEW", "message": "m"},
            "meta": {"request_id": "req_1"},
        }
        return httpx.Response(418, json=body)

    with pytest.raises(ToolwireError) as caught:
        _client(handler).execute("echo")

    assert type(caught.value) is ToolwireError
    assert caught.value.code == "BRAND_NEW"
    assert caught.value.status == 418
    assert caught.value.request_id == "req_1"


@pytest.mark.parametrize(
    ("status", "cls"), [(413, PayloadTooLarge), (502, UpstreamError), (503, Unavailable)]
)
def test_an_answer_without_an_envelope_is_mapped_by_its_status(status: int, cls: type) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>proxy error</html>")

    with pytest.raises(cls) as caught:
        _client(handler).tools()

    assert type(caught.value) is cls
    assert caught.value.status == status


def test_a_success_without_json_raises_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="not json")

    with pytest.raises(TransportError):
        _client(handler).me()


@pytest.mark.parametrize("body", [[1, 2], {"unexpected": True}, "text"])
def test_a_success_of_an_unexpected_shape_raises_transport_error(body: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with pytest.raises(TransportError):
        _client(handler).execute("echo")
    with pytest.raises(TransportError):
        _client(handler).tools()


def test_rate_limited_carries_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"ok": False, "error": {"code": "RATE_LIMITED", "message": "slow down"}}
        return httpx.Response(429, json=body, headers={"Retry-After": "3"})

    with pytest.raises(RateLimited) as caught:
        _client(handler).execute("echo")

    assert caught.value.retry_after == 3.0


def test_execute_sends_the_contract_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "data": 1, "meta": {"request_id": "r"}})

    _client(handler).execute("search", {"q": "x"}, operation="web", idempotency_key="idem-1")

    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://gateway.test/api/v1/execute"
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["idempotency-key"] == "idem-1"
    assert json.loads(request.content) == {
        "tool": "search",
        "operation": "web",
        "input": {"q": "x"},
    }


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLWIRE_URL", "http://env.test:9/")
    monkeypatch.setenv("TOOLWIRE_API_KEY", "tw_env")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"tools": []})

    with Client(http_client=httpx.Client(transport=httpx.MockTransport(handler))) as client:
        assert client.tools() == []

    assert str(seen[0].url) == "http://env.test:9/api/v1/tools"
    assert seen[0].headers["authorization"] == "Bearer tw_env"


def test_an_injected_http_client_is_left_open() -> None:
    http = httpx.Client()
    with Client("http://x.test", http_client=http):
        pass
    assert not http.is_closed
    http.close()


async def test_an_injected_async_http_client_is_left_open_and_an_owned_one_is_closed() -> None:
    http = httpx.AsyncClient()
    async with AsyncClient("http://x.test", http_client=http):
        pass
    assert not http.is_closed
    await http.aclose()
    owned = AsyncClient("http://x.test")
    await owned.close()
    assert owned._http.is_closed


@pytest.mark.parametrize(
    ("headers", "details", "expected"),
    [
        ({}, {"retry_after_s": 120}, 120.0),  # a proxy dropped the header
        ({"Retry-After": "7"}, {"retry_after_s": 120}, 7.0),  # the header wins
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, 0.0),  # an HTTP-date, past
        ({"Retry-After": "soon"}, None, None),
        ({}, {"retry_after_s": True}, None),
    ],
)
def test_rate_limited_reads_retry_after_from_the_header_or_the_envelope(
    headers: dict[str, str], details: Any, expected: float | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error: dict[str, Any] = {"code": "RATE_LIMITED", "message": "slow down"}
        if details is not None:
            error["details"] = details
        return httpx.Response(429, json={"ok": False, "error": error}, headers=headers)

    with pytest.raises(RateLimited) as caught:
        _client(handler).execute("echo")

    assert caught.value.retry_after == expected
