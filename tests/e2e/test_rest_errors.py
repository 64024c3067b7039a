"""Every bad input the REST door must refuse, over raw HTTP against a real gateway: the status,
the stable error code, the envelope, and that none of them charged a credit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from toolwire.testing import RunningGateway, start_gateway

ECHO_PRICE = 0.5
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("rest-errors"), config={"prices": {"echo": ECHO_PRICE}}
    )
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def account(gateway: RunningGateway) -> tuple[str, str]:
    return gateway.create_account(credits=10, name="rest-errors")


@pytest.fixture
def http(gateway: RunningGateway, account: tuple[str, str]) -> Iterator[httpx.Client]:
    with gateway.client(account[1]) as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error of an error envelope, checking the envelope's shape on the way."""
    body = response.json()
    assert body["ok"] is False
    assert set(body) == {"ok", "error", "meta"}
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert body["meta"]["credits_charged"] == 0
    error: dict[str, Any] = body["error"]
    return error


def balance(http: httpx.Client) -> float:
    value: float = http.get("/api/v1/me").json()["balance"]
    return value


def test_malformed_json_is_400_invalid_request(http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/execute", content=b'{"tool": "echo",', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[1, 2]",
        b'{"tool": 5}',
        b'{"tool": "echo", "input": [1]}',
        b'{"tool": "echo", "input": {}, "extra": 1}',
        b'{"tool": "echo", "operation": 3}',
    ],
)
def test_a_body_that_is_not_a_tool_call_is_400_invalid_request(
    http: httpx.Client, body: bytes
) -> None:
    response = http.post("/api/v1/execute", content=body)

    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_REQUEST"


def test_an_unknown_tool_is_404_tool_not_found(http: httpx.Client) -> None:
    for call in ({"tool": "no_such_tool"}, {"tool": "calc", "operation": "nope"}):
        response = http.post("/api/v1/execute", json=call)

        assert response.status_code == 404, call
        assert error_of(response)["code"] == "TOOL_NOT_FOUND"


def test_arguments_that_fail_the_schema_are_422_with_every_failing_path(
    http: httpx.Client,
) -> None:
    wrong_type = http.post(
        "/api/v1/execute", json={"tool": "calc.evaluate", "input": {"expression": 5}}
    )
    missing = http.post("/api/v1/execute", json={"tool": "calc.evaluate", "input": {}})

    assert (wrong_type.status_code, missing.status_code) == (422, 422)
    wrong_error, missing_error = error_of(wrong_type), error_of(missing)
    assert wrong_error["code"] == missing_error["code"] == "INVALID_ARGUMENTS"
    assert [e["path"] for e in wrong_error["details"]["errors"]] == ["/expression"]
    assert [e["path"] for e in missing_error["details"]["errors"]] == ["/expression"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-toolwire-key"},
        {"Authorization": "Bearer tw_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
        {"X-API-Key": "tw_nope"},
    ],
)
def test_a_missing_or_malformed_key_is_401_with_www_authenticate(
    gateway: RunningGateway, headers: dict[str, str]
) -> None:
    for method, path in (("POST", "/api/v1/execute"), ("GET", "/api/v1/tools")):
        response = httpx.request(
            method, gateway.url + path, headers=headers, json={"tool": "echo", "input": {}}
        )

        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert error_of(response)["code"] == "UNAUTHENTICATED"


def test_a_revoked_key_is_401_with_www_authenticate(gateway: RunningGateway) -> None:
    account_id, key = gateway.create_account(credits=5, name="revoked")
    with gateway.admin() as admin:
        (key_info,) = admin.get("/admin/v1/keys", params={"account_id": account_id}).json()["keys"]
        assert admin.delete(f"/admin/v1/keys/{key_info['id']}").status_code == 200

    response = httpx.post(
        gateway.url + "/api/v1/execute",
        headers={"X-API-Key": key},
        json={"tool": "echo", "input": {"message": "hi"}},
    )

    assert response.status_code == 401
    assert "www-authenticate" in response.headers
    assert error_of(response)["code"] == "UNAUTHENTICATED"


def test_a_key_without_the_scope_is_404_as_for_an_unknown_tool_and_not_charged(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=5, scopes=["calc.*", "!echo"], name="scoped")
    with gateway.client(key) as http:
        response = http.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "x"}})
        tool = http.get("/api/v1/tools/echo")

        assert response.status_code == tool.status_code == 404
        assert error_of(response)["code"] == error_of(tool)["code"] == "TOOL_NOT_FOUND"
        assert balance(http) == 5


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(http: httpx.Client) -> None:
    declared = http.post("/api/v1/execute", content=b"x" * (LIMIT + 1))

    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 65536 + 1):
            yield b" " * 65536

    streamed = http.post("/api/v1/execute", content=chunks())

    assert declared.status_code == streamed.status_code == 413
    assert error_of(declared)["code"] == error_of(streamed)["code"] == "PAYLOAD_TOO_LARGE"
    assert error_of(declared)["details"]["limit_bytes"] == LIMIT


def test_a_body_just_under_the_limit_is_accepted(http: httpx.Client) -> None:
    padding = LIMIT - 200
    body = b'{"tool": "calc.evaluate", "input": {"expression": "1"}}' + b" " * padding

    response = http.post("/api/v1/execute", content=body)

    assert response.status_code == 200


def test_an_unknown_route_or_method_answers_in_the_same_envelope(http: httpx.Client) -> None:
    missing = http.get("/api/v1/nothing-here")
    wrong_method = http.get("/api/v1/execute")

    assert missing.status_code == 404
    assert error_of(missing)["code"] == "NOT_FOUND"
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["code"] == "INVALID_REQUEST"


def test_no_refused_request_charged_a_credit(http: httpx.Client, account: tuple[str, str]) -> None:
    before = balance(http)
    for body in (
        b'{"tool": "echo",',
        b'{"tool": "echo", "input": {"message": "x"}, "extra": true}',
        b'{"tool": "echo", "input": {"message": 5}}',
        b'{"tool": "echo", "input": {"message": "x"}}' + b" " * LIMIT,
    ):
        assert http.post("/api/v1/execute", content=body).status_code >= 400

    ok = http.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "x"}})

    assert ok.status_code == 200
    assert ok.json()["meta"]["credits_charged"] == ECHO_PRICE
    assert ok.json()["meta"]["balance"] == before - ECHO_PRICE
    assert balance(http) == before - ECHO_PRICE
