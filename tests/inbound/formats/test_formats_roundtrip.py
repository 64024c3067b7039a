"""End to end over real sockets: a gateway serving the vendor-keys OpenAPI document lists its
tools per format, and calls sent back in each format's spelling reach the upstream in the
document's own shape: through REST's OpenAI tool-calls door, the SDK's `run_openai_tool_calls`,
and `execute` with `format` (REST and SDK) for Anthropic and Gemini."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.inbound.formats.catalogs import VENDOR_KEYS
from tests.inbound.formats.vendor_rules import sdk_check, violations
from tests.upstream.servers import serving
from toolwire.client import Client, InvalidArguments
from toolwire.testing import RunningGateway, start_gateway


async def _items(request: Request) -> JSONResponse:
    return JSONResponse(
        {"query": request.query_params.multi_items(), "trace": request.headers.get("x-trace")}
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    upstream = Starlette(routes=[Route("/items", _items, methods=["GET"])])
    with serving(upstream) as served:
        config = {
            "builtins": {"include": ["echo"]},
            "openapi": {
                "vendorkeys": {
                    "spec": str(VENDOR_KEYS),
                    "base_url": served.url,
                    "allow_private_networks": True,
                }
            },
        }
        gw = start_gateway(Path(tmp_path_factory.mktemp("formats-gw")), config=config)
        try:
            yield gw
        finally:
            gw.stop()


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=100, name="formats")[1]


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, key: str) -> Iterator[Client]:
    with Client(gateway.url, api_key=key) as sdk:
        yield sdk


def _definition(client: Client, fmt: str, name: str) -> dict[str, Any]:
    for definition in client.tools(format=fmt):  # type: ignore[arg-type]
        shown = definition.get("function", definition)
        if shown["name"] == name:
            sdk_check(fmt, definition)
            assert violations(fmt, definition) == []
            return definition
    raise AssertionError(f"{name} not listed in {fmt}")


def _key(schema: dict[str, Any], prefix: str) -> str:
    [key] = [k for k in schema["properties"] if k.startswith(prefix)]
    return key


def test_the_issue_tool_is_listed_for_openai_with_items_and_runs_from_a_tool_call(
    client: Client,
) -> None:
    definition = _definition(client, "openai", "vendorkeys__find_items")
    parameters = definition["function"]["parameters"]
    assert parameters["properties"]["ids"]["items"] == {}
    call = {
        "id": "call_1",
        "type": "function",
        "function": {
            "name": "vendorkeys__find_items",
            "arguments": json.dumps({"ids": ["a", "b"], "filter[status]": "open"}),
        },
    }

    [message] = client.run_openai_tool_calls({"role": "assistant", "tool_calls": [call]})

    answer = json.loads(message["content"])
    assert ["filter[status]", "open"] in answer["query"]
    assert {"ids"} <= {k for k, _ in answer["query"]}


def test_renamed_keys_come_back_through_rest_execute_with_the_anthropic_format(
    gateway: RunningGateway, client: Client, key: str
) -> None:
    schema = _definition(client, "anthropic", "vendorkeys__find_items")["input_schema"]
    status = _key(schema, "filter_status_")
    tool_use = {"name": "vendorkeys__find_items", "input": {status: "closed", "X-Trace": "t-1"}}

    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}) as http:
        response = http.post(
            "/api/v1/execute",
            json={"tool": tool_use["name"], "input": tool_use["input"], "format": "anthropic"},
        )

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"query": [["filter[status]", "closed"]], "trace": "t-1"}


def test_renamed_keys_come_back_through_the_sdk_execute_with_the_gemini_format(
    client: Client,
) -> None:
    schema = _definition(client, "gemini", "vendorkeys__find_items")["parametersJsonSchema"]
    function_call = {
        "name": "vendorkeys__find_items",
        "args": {_key(schema, "filter_status_"): "open", _key(schema, "X_Trace_"): "t-2"},
    }

    result = client.execute(function_call["name"], function_call["args"], format="gemini")

    assert result.data == {"query": [["filter[status]", "open"]], "trace": "t-2"}


def test_without_the_format_a_renamed_key_is_refused_by_the_tool_schema(client: Client) -> None:
    schema = _definition(client, "gemini", "vendorkeys__find_items")["parametersJsonSchema"]
    with pytest.raises(InvalidArguments):
        client.execute("vendorkeys.find_items", {_key(schema, "X_Trace_"): "t-3"})


@pytest.mark.parametrize(
    "extra", [{"format": "klingon"}, {"format": "gemini", "operation": "find_items"}]
)
def test_execute_refuses_an_unknown_format_or_one_with_an_operation(
    gateway: RunningGateway, key: str, extra: dict[str, str]
) -> None:
    body = {"tool": "vendorkeys", "input": {}, **extra}
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}) as http:
        response = http.post("/api/v1/execute", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
