"""The A2A door of the matrix: the official `a2a-sdk` client (1.x, JSON-RPC, `A2A-Version: 1.0`)
against `/a2a`.

A call is one `SendMessage` (blocking) whose data part names the tool; the answer is the task.
Its table (toolwire/inbound/a2a/messages.py): a failed call is a task in the state `TASK_ERRORS`
gives the code (form "task", code: the state's name, HTTP 200), with the error in the task
metadata `toolwire.error`; a refusal before the handler (`ADMISSION`) is an HTTP error
carrying a JSON-RPC error whose `data` is the toolwire error. Cancelling is the door's own
`CancelTask` on a task sent with `returnImmediately`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.client.client import Client
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    Task,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict

from tests.inbound.door_matrix.door import (
    Answer,
    Key,
    NoTableRow,
    PortalDoor,
    Stage,
    Started,
    Wire,
    error_fields,
)
from toolwire.core.errors import BY_CODE
from toolwire.inbound.a2a import messages
from toolwire.inbound.a2a.card import DISCOVERY
from toolwire.inbound.a2a.messages import json_value
from toolwire.inbound.http import row_for


class A2ADoor(PortalDoor):
    name = "a2a"
    audit_door = "a2a"

    @asynccontextmanager
    async def client(self, key: Key) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {key.secret}", "A2A-Version": "1.0"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            reply = await http.get(self.world.gateway.url + "/.well-known/agent-card.json")
            reply.raise_for_status()
            factory = ClientFactory(ClientConfig(httpx_client=http, streaming=False))
            async with factory.create(parse_agent_card(reply.json())) as client:
                yield client

    async def alist_tools(self, key: Key) -> set[str]:
        headers = {"Authorization": f"Bearer {key.secret}"}
        async with httpx.AsyncClient(headers=headers) as http:
            card = (await http.get(self.world.gateway.url + "/.well-known/agent-card.json")).json()
        tools = [skill for skill in card["skills"] if skill["id"] != DISCOVERY.id]
        return {example.split()[0] for skill in tools for example in skill["examples"]}

    async def acall(
        self, key: Key, tool: str, args: dict[str, Any], idempotency_key: str | None
    ) -> Answer:
        request = SendMessageRequest(message=call_message(tool, args, idempotency_key))
        try:
            async with self.client(key) as client:
                events = [event async for event in client.send_message(request)]
        except A2AClientError as exc:
            if not isinstance(exc.__cause__, httpx.HTTPStatusError):
                raise
            return refusal(exc.__cause__.response)
        except httpx.HTTPStatusError as exc:  # the card itself was refused
            return refusal(exc.response)
        return task_answer(events[-1].task)

    def call_cancelled(
        self, key: Key, tool: str, args: Mapping[str, Any], started: Started
    ) -> None:
        async def cancelled() -> None:
            request = SendMessageRequest(
                message=call_message(tool, dict(args), None),
                configuration=SendMessageConfiguration(return_immediately=True),
            )
            async with self.client(key) as client:
                task = [event async for event in client.send_message(request)][-1].task
                await started()
                await client.cancel_task(CancelTaskRequest(id=task.id))

        self.run(cancelled)

    def expected_error(self, code: str, stage: Stage = "call") -> Wire:
        cls = BY_CODE.get(code)
        if cls is None:
            raise NoTableRow(self.name, code)
        if stage == "admission":
            status = int(row_for(messages.ADMISSION, cls).status)
            return Wire("rpc-error", messages.ADMISSION_RPC_CODE, status)
        state = row_for(messages.TASK_ERRORS, cls)
        return Wire("task", TaskState.Name(state), 200)


def call_message(tool: str, args: dict[str, Any], idempotency_key: str | None) -> Message:
    part = Part(media_type="application/json")
    ParseDict({"tool": tool, "input": args}, part.data)
    message = Message(message_id=f"m-{id(part)}", role=Role.ROLE_USER, parts=[part])
    if idempotency_key is not None:
        ParseDict({"idempotencyKey": idempotency_key}, message.metadata)
    return message


def task_answer(task: Task) -> Answer:
    metadata = json_value(MessageToDict(task.metadata))
    meta = metadata.get("toolwire")
    if task.status.state == TaskState.TASK_STATE_COMPLETED:
        data = json_value(MessageToDict(task.artifacts[0].parts[0].data))
        return Answer(ok=True, wire=Wire("result", None, 200), data=data, meta=meta, raw=task)
    code, message, details = error_fields(metadata.get("toolwire.error"))
    state = TaskState.Name(task.status.state)
    return Answer(
        ok=False,
        wire=Wire("task", state, 200),
        code=code,
        message=message,
        details=details,
        meta=meta,
        raw=task,
    )


def refusal(reply: httpx.Response) -> Answer:
    """An HTTP error: its JSON-RPC error body (`data`: the toolwire error), or the envelope of a
    failure outside the door (`error`: the toolwire error)."""
    try:
        error = reply.json()["error"]
    except (ValueError, KeyError, TypeError):
        return Answer(ok=False, wire=Wire("rpc-error", None, reply.status_code), raw=reply.text)
    if "data" not in error:
        code, message, details = error_fields(error)
        wire = Wire("envelope", None, reply.status_code)
        return Answer(False, wire, code, message, details, raw=error)
    code, message, details = error_fields(error.get("data"))
    return Answer(
        ok=False,
        wire=Wire("rpc-error", error.get("code"), reply.status_code),
        code=code,
        message=message,
        details=details,
        raw=error,
    )
