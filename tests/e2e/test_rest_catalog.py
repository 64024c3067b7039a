"""The REST door's reading side over raw HTTP against a real gateway: health, the OpenAPI
document, the catalog in every format, one tool, and the OpenAI tool-calls endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from toolwire.testing import RunningGateway, start_gateway

ECHO_PRICE = 0.5


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("rest-catalog"), config={"prices": {"echo": ECHO_PRICE}}
    )
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def http(gateway: RunningGateway) -> Iterator[httpx.Client]:
    _, key = gateway.create_account(credits=10, name="rest-catalog")
    with gateway.client(key) as client:
        yield client


def tools(http: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = http.get("/api/v1/tools", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["tools"])
    found: list[dict[str, Any]] = body["tools"]
    return found


def test_healthz_and_readyz_answer_without_a_key(gateway: RunningGateway) -> None:
    health = httpx.get(gateway.url + "/healthz")
    ready = httpx.get(gateway.url + "/readyz")

    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    assert ready.json()["tools"] > 0


def test_openapi_json_is_a_valid_openapi_3_1_document(gateway: RunningGateway) -> None:
    validator = pytest.importorskip("openapi_spec_validator")

    document = httpx.get(gateway.url + "/openapi.json").json()

    assert document["openapi"].startswith("3.1")
    validator.validate(document)
    assert {"/api/v1/execute", "/api/v1/tools", "/api/v1/tools/{name}"} <= set(document["paths"])


def test_the_catalog_lists_every_tool_with_its_price_and_schema(http: httpx.Client) -> None:
    entries = {t["name"]: t for t in tools(http)}

    assert entries["echo"]["price"] == ECHO_PRICE
    assert entries["calc.evaluate"]["price"] == 0
    assert entries["calc.evaluate"]["category"] == "math"
    assert all(t["input_schema"]["type"] == "object" for t in entries.values())


def test_q_searches_names_descriptions_and_categories(http: httpx.Client) -> None:
    by_description = {t["name"] for t in tools(http, q="arithmetic")}
    by_name = {t["name"] for t in tools(http, q="calc")}
    by_category = {t["name"] for t in tools(http, q="math")}
    nothing = tools(http, q="zzz-no-such-word")

    assert "calc.evaluate" in by_description & by_name & by_category
    assert "echo" not in by_description
    assert nothing == []


def test_category_keeps_only_that_category(http: httpx.Client) -> None:
    math = tools(http, category="math")

    assert math and {t["category"] for t in math} == {"math"}
    assert tools(http, category="no-such-category") == []


@pytest.mark.parametrize(
    ("fmt", "name_of"),
    [
        ("mcp", lambda d: d["name"]),
        ("openai", lambda d: d["function"]["name"]),
        ("openai-responses", lambda d: d["name"]),
        ("anthropic", lambda d: d["name"]),
        ("gemini", lambda d: d["name"]),
    ],
)
def test_every_format_lists_the_same_tools_with_its_own_names(
    http: httpx.Client, fmt: str, name_of: Any
) -> None:
    response = http.get("/api/v1/tools", params={"format": fmt})
    plain = {t["name"] for t in tools(http)}

    assert response.status_code == 200
    body = response.json()
    assert body["format"] == fmt
    names = {name_of(d) for d in body["tools"]}
    separator = "." if fmt == "mcp" else "__"
    assert names == {n.replace(".", separator) for n in plain}


def test_each_format_has_that_platforms_shape(http: httpx.Client) -> None:
    def first(fmt: str) -> dict[str, Any]:
        defs = http.get("/api/v1/tools", params={"format": fmt, "q": "calc"}).json()["tools"]
        definition: dict[str, Any] = defs[0]
        return definition

    mcp, openai, anthropic, gemini = (first(f) for f in ("mcp", "openai", "anthropic", "gemini"))

    assert mcp["inputSchema"]["type"] == "object" and "annotations" in mcp
    assert openai["type"] == "function" and openai["function"]["parameters"]["type"] == "object"
    assert anthropic["input_schema"]["type"] == "object"
    assert gemini["parametersJsonSchema"]["type"] == "object"


def test_an_unknown_format_is_400(http: httpx.Client) -> None:
    response = http.get("/api/v1/tools", params={"format": "klingon"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_a_scoped_key_sees_only_its_tools(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=1, scopes=["calc.*"], name="calc-only")
    with gateway.client(key) as scoped:
        names = {t["name"] for t in tools(scoped)}
        openai_names = {
            d["function"]["name"]
            for d in scoped.get("/api/v1/tools", params={"format": "openai"}).json()["tools"]
        }

    assert names == {"calc.evaluate"}
    assert openai_names == {"calc__evaluate"}


def test_one_tool_by_any_of_its_names(http: httpx.Client) -> None:
    dotted = http.get("/api/v1/tools/calc.evaluate")
    underscored = http.get("/api/v1/tools/calc__evaluate")
    missing = http.get("/api/v1/tools/no_such_tool")

    assert dotted.status_code == underscored.status_code == 200
    assert dotted.json() == underscored.json()
    assert dotted.json()["name"] == "calc.evaluate"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "TOOL_NOT_FOUND"


def _call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def test_openai_tool_calls_return_tool_messages_in_order(http: httpx.Client) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            _call("c1", "echo", {"message": "one"}),
            _call("c2", "calc__evaluate", {"expression": "2 ** 10"}),
            _call("c3", "no_such_tool", {}),
            _call("c4", "calc__evaluate", "{not json"),
            _call("c5", "calc__evaluate", {"expression": 1}),
        ],
    }

    response = http.post("/api/v1/openai/tool_calls", json=message)

    assert response.status_code == 200
    body = response.json()
    messages = body["messages"]
    assert [(m["role"], m["tool_call_id"]) for m in messages] == [
        ("tool", f"c{i}") for i in range(1, 6)
    ]
    assert json.loads(messages[1]["content"])["result"] == 1024
    codes = [json.loads(m["content"]).get("error", {}).get("code") for m in messages]
    assert codes == [None, None, "TOOL_NOT_FOUND", "INVALID_ARGUMENTS", "INVALID_ARGUMENTS"]
    assert [r["ok"] for r in body["results"]] == [True, True, False, False, False]
    assert body["results"][0]["meta"]["credits_charged"] == ECHO_PRICE
    assert [r["meta"]["credits_charged"] for r in body["results"][1:]] == [0, 0, 0, 0]


def test_openai_tool_calls_accept_the_bare_list(http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/openai/tool_calls", json=[_call("only", "calc__evaluate", {"expression": "1"})]
    )

    assert response.status_code == 200
    assert [m["tool_call_id"] for m in response.json()["messages"]] == ["only"]


@pytest.mark.parametrize(
    "body",
    [
        {"role": "assistant"},
        {"tool_calls": "nope"},
        {"tool_calls": [{"function": {"name": "echo"}}]},
        {"tool_calls": [{"id": "x", "function": {}}]},
    ],
)
def test_a_malformed_tool_calls_request_is_400(http: httpx.Client, body: Any) -> None:
    response = http.post("/api/v1/openai/tool_calls", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_the_tool_calls_endpoint_needs_a_key(gateway: RunningGateway) -> None:
    response = httpx.post(gateway.url + "/api/v1/openai/tool_calls", json={"tool_calls": []})

    assert response.status_code == 401
    assert "www-authenticate" in response.headers
