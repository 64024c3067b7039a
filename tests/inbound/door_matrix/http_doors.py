"""The HTTP doors that are not MCP: REST (`POST /api/v1/execute`), OpenAI `tool_calls`
(`POST /api/v1/openai/tool_calls`) and the Python SDK (`toolwire.client.AsyncClient`).

Their tables: REST's `ERRORS` (toolwire/inbound/rest.py); the OpenAI door turns a failed
call into a `role: tool` message carrying the error and answers request-level failures with
REST's envelope (toolwire/inbound/openai.py); the SDK raises the class its `ERRORS_BY_CODE` names
for a code, with the status REST's table gives (toolwire/client/_errors.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.inbound.door_matrix.door import (
    Answer,
    Key,
    NoTableRow,
    PortalDoor,
    Stage,
    Wire,
    canonical_name,
    error_fields,
)
from toolwire.client import AsyncClient
from toolwire.client import ToolwireError as SdkError
from toolwire.client._errors import ERRORS_BY_CODE
from toolwire.core import names
from toolwire.core.errors import BY_CODE
from toolwire.inbound import rest


def rest_status(door: str, code: str) -> int:
    """REST's status for `code`, from its table by class (`rest.ERRORS`)."""
    cls = BY_CODE.get(code)
    if cls is None:
        raise NoTableRow(door, code)
    return rest.status_for(cls)


def envelope_answer(reply: httpx.Response) -> Answer:
    """A REST envelope `{"ok", "data" | "error", "meta"}` as an Answer."""
    try:
        body = reply.json()
    except ValueError:
        return Answer(ok=False, wire=Wire("envelope", None, reply.status_code), raw=reply.text)
    if not isinstance(body, dict):
        return Answer(ok=False, wire=Wire("envelope", None, reply.status_code), raw=body)
    ok = body.get("ok") is True
    code, message, details = error_fields(body.get("error"))
    return Answer(
        ok=ok,
        wire=Wire("result" if ok else "envelope", None, reply.status_code),
        code=code,
        message=message,
        details=details,
        data=body.get("data"),
        meta=body.get("meta"),
        raw=body,
        retry_after=None
        if "retry-after" not in reply.headers
        else float(reply.headers["retry-after"]),
    )


class RestDoor(PortalDoor):
    name = "rest"
    audit_door = "rest"

    def http(self, key: Key) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key.secret}"}
        return httpx.AsyncClient(base_url=self.world.gateway.url, headers=headers, timeout=30)

    async def alist_tools(self, key: Key) -> set[str]:
        async with self.http(key) as http:
            reply = await http.get("/api/v1/tools")
        return {entry["name"] for entry in reply.json()["tools"]}

    async def acall(
        self, key: Key, tool: str, args: dict[str, Any], idempotency_key: str | None
    ) -> Answer:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        async with self.http(key) as http:
            reply = await http.post(
                "/api/v1/execute", json={"tool": tool, "input": args}, headers=headers
            )
        return envelope_answer(reply)

    def expected_error(self, code: str, stage: Stage = "call") -> Wire:
        return Wire("envelope", None, rest_status(self.name, code))


def openai_name(canonical: str) -> str:
    tool, operation = names.parse(canonical)
    return names.external(tool, operation or tool, "openai")


class OpenAIDoor(RestDoor):
    """A model's `tool_calls`, one per request. An idempotency key travels both as the
    `Idempotency-Key` header and as the tool call's id (what a model resends on a retry)."""

    name = "openai"
    audit_door = "openai"

    async def alist_tools(self, key: Key) -> set[str]:
        async with self.http(key) as http:
            reply = await http.get("/api/v1/tools", params={"format": "openai"})
        return {canonical_name(t["function"]["name"], "openai") for t in reply.json()["tools"]}

    async def acall(
        self, key: Key, tool: str, args: dict[str, Any], idempotency_key: str | None
    ) -> Answer:
        call_id = f"call_{idempotency_key or uuid.uuid4().hex}"
        function = {"name": openai_name(tool), "arguments": json.dumps(args)}
        body = {"tool_calls": [{"id": call_id, "type": "function", "function": function}]}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        async with self.http(key) as http:
            reply = await http.post("/api/v1/openai/tool_calls", json=body, headers=headers)
        answer = reply.json() if reply.status_code == 200 else None
        if not isinstance(answer, dict) or "results" not in answer:
            return envelope_answer(reply)
        result, message = answer["results"][0], answer["messages"][0]
        content = json.loads(message["content"])
        ok = result["ok"] is True
        code, text, details = error_fields(result.get("error"))
        return Answer(
            ok=ok,
            wire=Wire("result" if ok else "tool-message", None, reply.status_code),
            code=code,
            message=text,
            details=details,
            data=content if ok else None,
            meta=result.get("meta"),
            raw=answer,
        )

    def expected_error(self, code: str, stage: Stage = "call") -> Wire:
        if stage == "admission":
            return Wire("envelope", None, rest_status(self.name, code))
        if code not in BY_CODE:
            raise NoTableRow(self.name, code)
        return Wire("tool-message", None, None)


class SdkDoor(PortalDoor):
    name = "sdk"
    audit_door = "rest"

    def client(self, key: Key) -> AsyncClient:
        return AsyncClient(self.world.gateway.url, api_key=key.secret, timeout=30)

    async def alist_tools(self, key: Key) -> set[str]:
        async with self.client(key) as client:
            return {entry["name"] for entry in await client.tools()}

    async def acall(
        self, key: Key, tool: str, args: dict[str, Any], idempotency_key: str | None
    ) -> Answer:
        async with self.client(key) as client:
            try:
                result = await client.execute(tool, args, idempotency_key=idempotency_key)
            except SdkError as exc:
                return Answer(
                    ok=False,
                    wire=Wire("exception", type(exc).__name__, exc.status),
                    code=exc.code,
                    message=exc.message,
                    details=exc.details,
                    meta=exc.meta.to_dict() if exc.meta is not None else None,
                    raw=exc,
                    retry_after=exc.retry_after,
                )
        return Answer(
            ok=True,
            wire=Wire("result", None, 200),
            data=result.data,
            meta=result.meta.to_dict(),
            raw=result,
        )

    def expected_error(self, code: str, stage: Stage = "call") -> Wire:
        cls = ERRORS_BY_CODE.get(code)
        if cls is None:
            raise NoTableRow(self.name, code)
        return Wire("exception", cls.__name__, rest_status(self.name, code))
