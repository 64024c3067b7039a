"""Messages to calls and outcomes to parts, in process (no gateway)."""

from __future__ import annotations

from typing import Any

import pytest
from a2a.types.a2a_pb2 import Message, Part, Role, TaskState
from google.protobuf.json_format import MessageToDict, ParseDict

from toolwire.core.errors import BY_CODE, InvalidRequest, ToolwireError
from toolwire.inbound.a2a import messages


def message(*parts: Part, metadata: dict[str, Any] | None = None) -> Message:
    built = Message(message_id="m", role=Role.ROLE_USER, parts=list(parts))
    if metadata is not None:
        ParseDict(metadata, built.metadata)
    return built


def data(value: Any) -> Part:
    part = Part()
    ParseDict(value, part.data)
    return part


def test_a_data_part_names_tool_operation_and_input_with_integers_kept() -> None:
    call = messages.parse_call(
        message(data({"tool": "matrix", "operation": "add", "input": {"a": 2, "b": [1.5, 3]}})),
        "rid",
    )
    assert (call.tool, call.operation, dict(call.arguments)) == (
        "matrix",
        "add",
        {"a": 2, "b": [1.5, 3]},
    )
    assert isinstance(call.arguments["a"], int)
    assert call.door == "a2a"


@pytest.mark.parametrize(
    ("text", "tool", "arguments"),
    [
        ('matrix.add {"a": 1, "b": 2}', "matrix.add", {"a": 1, "b": 2}),
        ("  weather.current  ", "weather.current", {}),
        ('search {"q": "x"}\n', "search", {"q": "x"}),
    ],
)
def test_a_text_part_of_the_form_tool_operation_json_is_a_call(
    text: str, tool: str, arguments: dict[str, Any]
) -> None:
    call = messages.parse_call(message(Part(text=text)), "rid")
    assert (call.tool, call.operation, dict(call.arguments)) == (tool, None, arguments)


def test_the_idempotency_key_comes_from_the_message_metadata() -> None:
    call = messages.parse_call(
        message(Part(text="matrix.add"), metadata={"idempotencyKey": "k1"}), "rid"
    )
    assert call.idempotency_key == "k1"


@pytest.mark.parametrize(
    "part",
    [
        Part(text="hello there"),
        Part(text="matrix.add {oops"),
        Part(text="matrix.add [1]"),
        Part(url="https://example.com/x"),
        Part(raw=b"x"),
        data({"tool": ""}),
        data({"tool": "matrix", "input": [1]}),
        data({"tool": "matrix", "operation": 3}),
        data({"tool": "matrix", "extra": 1}),
        data([1, 2]),
    ],
    ids=[
        "prose",
        "bad-json",
        "json-not-object",
        "url",
        "raw",
        "empty-tool",
        "input-list",
        "operation-number",
        "unknown-field",
        "data-list",
    ],
)
def test_anything_else_is_an_invalid_request_listing_the_accepted_forms(part: Part) -> None:
    with pytest.raises(InvalidRequest):
        messages.parse_call(message(part), "rid")


def test_every_core_error_has_a_task_state() -> None:
    assert {cls.code for cls in messages.TASK_ERRORS if cls is not ToolwireError} == set(BY_CODE)
    assert messages.TASK_ERRORS[InvalidRequest] == TaskState.TASK_STATE_INPUT_REQUIRED


def test_a_result_is_a_data_part_then_its_text_rendering() -> None:
    from toolwire.core.model import Meta, Outcome

    parts = messages.result_parts(Outcome(meta=Meta(request_id="r"), data={"sum": 5}))
    assert MessageToDict(parts[0].data) == {"sum": 5}
    assert parts[0].media_type == "application/json"
    assert parts[1].text == '{"sum":5}'
