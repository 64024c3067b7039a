"""The SDK's catalog calls: tool definitions that the platforms' own SDK types accept, one tool's
entry, and running a model's OpenAI tool calls into the `tool` messages to append."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionMessage, ChatCompletionToolParam
from openai.types.responses import FunctionToolParam
from pydantic import TypeAdapter

from toolwire.client import InvalidRequest, ToolNotFound

SDK_TYPES: dict[str, Any] = {
    "openai": ChatCompletionToolParam,
    "openai-responses": FunctionToolParam,
    "anthropic": ToolParam,
}


@pytest.mark.parametrize("fmt", sorted(SDK_TYPES))
async def test_tool_definitions_validate_with_the_platform_sdk_types(client: Any, fmt: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(SDK_TYPES[fmt])

    definitions = await client.tools(format=fmt)

    assert definitions
    for definition in definitions:
        assert adapter.validate_python(definition) == definition


async def test_openai_definitions_spell_dotted_names_with_double_underscores(client: Any) -> None:
    names = {d["function"]["name"] for d in await client.tools(format="openai")}

    assert {"echo", "calc__evaluate"} <= names


async def test_the_catalog_is_searchable_by_words_and_category(client: Any) -> None:
    by_words = [t["name"] for t in await client.tools(q="arithmetic")]
    by_category = await client.tools(category="math")

    assert "calc.evaluate" in by_words
    assert by_category
    assert {t["category"] for t in by_category} == {"math"}


async def test_an_unknown_format_is_an_invalid_request(client: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await client.tools(format="klingon")

    assert caught.value.status == 400


async def test_tool_returns_one_catalog_entry_and_raises_for_an_unknown_name(client: Any) -> None:
    entry = await client.tool("calc.evaluate")

    assert entry["name"] == "calc.evaluate"
    assert entry["input_schema"]["type"] == "object"
    with pytest.raises(ToolNotFound):
        await client.tool("no_such_tool")


def _call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


async def test_openai_tool_calls_become_tool_messages_in_order_with_errors_inline(
    client: Any,
) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            _call("call_1", "calc__evaluate", {"expression": "2 + 3"}),
            _call("call_2", "no_such_tool", {}),
            _call("call_3", "echo", {"message": "third"}),
        ],
    }

    messages = await client.run_openai_tool_calls(message)

    assert [(m["role"], m["tool_call_id"]) for m in messages] == [
        ("tool", "call_1"),
        ("tool", "call_2"),
        ("tool", "call_3"),
    ]
    assert json.loads(messages[0]["content"])["result"] == 5
    assert json.loads(messages[1]["content"])["error"]["code"] == "TOOL_NOT_FOUND"


async def test_openai_tool_calls_accept_the_openai_sdk_message_object(client: Any) -> None:
    message = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                _call("call_a", "calc__evaluate", {"expression": "10 / 4"}),
                _call("call_b", "calc__evaluate", {"expression": 7}),
            ],
        }
    )
    assert message.tool_calls is not None and not isinstance(message.tool_calls[0], dict)

    messages = await client.run_openai_tool_calls(message)

    assert [m["tool_call_id"] for m in messages] == ["call_a", "call_b"]
    assert json.loads(messages[0]["content"])["exact"] == "2.5"
    assert json.loads(messages[1]["content"])["error"]["code"] == "INVALID_ARGUMENTS"


async def test_openai_tool_calls_accept_the_bare_list_of_sdk_tool_calls(client: Any) -> None:
    message = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "tool_calls": [_call("call_x", "calc__evaluate", {"expression": "1 + 1"})],
        }
    )
    calls = message.tool_calls

    messages = await client.run_openai_tool_calls(calls)

    assert [m["tool_call_id"] for m in messages] == ["call_x"]
