"""The gateway's HTTP contract, once, as pure functions: what to send, and how to read the answer.

Each API method is a function returning a `Call`: the request to make and how to turn a
successful JSON body into the method's return value. `finish` reads any response (envelope,
error code, status) into that value or the right exception; `transport_errors` translates httpx's
exceptions where they enter. `Client` and `AsyncClient` are thin shells that only do the I/O, so
the sync and async clients cannot drift apart. Nothing here performs I/O.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from toolwire.client._errors import (
    CODE_FOR_STATUS,
    ToolwireError,
    TransportError,
    TransportTimeout,
    error_for,
)
from toolwire.client._models import JSONObject, Meta, Result, ToolFormat

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8787"
DEFAULT_TIMEOUT = 60.0
URL_ENV = "TOOLWIRE_URL"
KEY_ENV = "TOOLWIRE_API_KEY"
USER_AGENT = "toolwire-python"

Amount = int | float | str | Decimal
"""A number of credits (up to 6 decimals)."""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request of the contract and how to read its successful JSON body."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


# -- configuration -----------------------------------------------------------------------------


def resolve_base_url(base_url: str | None) -> str:
    return (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get(KEY_ENV) or None


def default_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def request_kwargs(base_url: str, headers: Mapping[str, str], call: Call[Any]) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client.request` / `httpx.AsyncClient.request`."""
    kwargs: dict[str, Any] = {
        "method": call.method,
        "url": base_url + call.path,
        "headers": {**headers, **call.headers},
    }
    if call.params:
        kwargs["params"] = dict(call.params)
    if call.json is not None:
        kwargs["content"] = json.dumps(call.json, separators=(",", ":"), allow_nan=False)
        kwargs["headers"]["Content-Type"] = "application/json"
    return kwargs


# -- reading answers ---------------------------------------------------------------------------


@contextlib.contextmanager
def transport_errors() -> Iterator[None]:
    """Translate httpx's exceptions into `TransportError`, most specific first."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransportTimeout(f"the gateway did not answer in time: {exc}") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise TransportError(f"could not reach the gateway: {exc}") from exc


_NOT_JSON: Any = object()
"""What `_json_body` returns for a body that is not JSON."""


def finish(call: Call[T], response: httpx.Response) -> T:
    """The value of a successful answer, or the exception its error code names."""
    body = _json_body(response)
    if response.is_success and not (isinstance(body, dict) and body.get("ok") is False):
        if body is _NOT_JSON:
            raise TransportError(
                f"the gateway answered {response.status_code} without a JSON body",
                status=response.status_code,
            )
        try:
            return call.parse(body)
        except (KeyError, TypeError, AttributeError) as exc:
            raise TransportError(
                f"the gateway's answer to {call.method} {call.path} has an unexpected shape",
                status=response.status_code,
            ) from exc
    raise error_from(response, body)


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def error_from(response: httpx.Response, body: Any) -> ToolwireError:
    """A typed exception from an error envelope; from the status when there is no envelope."""
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    retry_after = _retry_after(response.headers.get("retry-after"))
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        if retry_after is None:  # a proxy may drop the header; the envelope still says it
            retry_after = _retry_after_in(error.get("details"))
        raw_meta = body.get("meta")
        meta = Meta.from_dict(raw_meta) if isinstance(raw_meta, dict) else None
        return error_for(
            error["code"],
            str(error.get("message") or ""),
            details=error.get("details"),
            status=status,
            request_id=(meta.request_id if meta else None) or request_id,
            meta=meta,
            retry_after=retry_after,
        )
    code = CODE_FOR_STATUS.get(status, "INTERNAL")
    return error_for(
        code,
        f"the gateway answered HTTP {status}",
        status=status,
        request_id=request_id,
        retry_after=retry_after,
    )


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _retry_after_in(details: Any) -> float | None:
    found = details.get("retry_after_s") if isinstance(details, dict) else None
    return float(found) if isinstance(found, int | float) and not isinstance(found, bool) else None


def _result(body: Any) -> Result:
    if body.get("ok") is not True:
        raise TypeError("not a success envelope")
    return Result(data=body.get("data"), meta=Meta.from_dict(body["meta"]))


def _item(key: str) -> Callable[[Any], Any]:
    return lambda body: body[key]


def _identity(body: Any) -> Any:
    return body


# -- the calls ---------------------------------------------------------------------------------


def execute(
    tool: str,
    input: Mapping[str, Any] | None,
    operation: str | None,
    idempotency_key: str | None,
    format: ToolFormat | None = None,
) -> Call[Result]:
    body: JSONObject = {"tool": tool, "input": dict(input or {})}
    if operation is not None:
        body["operation"] = operation
    if format is not None:
        body["format"] = format
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", "/api/v1/execute", _result, json=body, headers=headers)


def tools(format: ToolFormat | None, q: str | None, category: str | None) -> Call[list[JSONObject]]:
    params = {k: v for k, v in (("format", format), ("q", q), ("category", category)) if v}
    return Call("GET", "/api/v1/tools", _item("tools"), params=params)


def tool(name: str) -> Call[JSONObject]:
    return Call("GET", f"/api/v1/tools/{_segment(name)}", _identity)


def me() -> Call[JSONObject]:
    return Call("GET", "/api/v1/me", _identity)


def run_openai_tool_calls(message_or_tool_calls: Any) -> Call[list[JSONObject]]:
    body = {"tool_calls": tool_calls_of(message_or_tool_calls)}
    return Call("POST", "/api/v1/openai/tool_calls", _item("messages"), json=body)


def tool_calls_of(value: Any) -> list[JSONObject]:
    """The `tool_calls` of an assistant message, as plain dicts.

    Accepts a message dict, an OpenAI SDK message object (anything with `.model_dump()` or
    `.tool_calls`), or the list of tool calls itself (dicts or SDK objects).
    """
    if isinstance(value, Mapping):
        calls: Any = value.get("tool_calls") or []
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        calls = value
    elif hasattr(value, "tool_calls"):
        calls = value.tool_calls or []
    elif hasattr(value, "model_dump"):
        calls = value.model_dump().get("tool_calls") or []
    else:
        raise TypeError(
            "expected an assistant message (dict or OpenAI SDK object) or a list of tool calls"
        )
    return [_plain(call) for call in calls]


def _plain(call: Any) -> JSONObject:
    if isinstance(call, Mapping):
        return dict(call)
    if hasattr(call, "model_dump"):
        dumped = call.model_dump()
        if isinstance(dumped, dict):
            return dumped
    raise TypeError(f"a tool call must be a dict or an OpenAI SDK object, not {type(call)!r}")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _amount(value: Amount) -> int | float | str:
    if isinstance(value, bool):
        raise TypeError("an amount of credits must be a number")
    return str(value) if isinstance(value, Decimal) else value


# -- admin (admin key only) --------------------------------------------------------------------


def create_account(name: str, credits: Amount) -> Call[JSONObject]:
    body = {"name": name, "credits": _amount(credits)}
    return Call("POST", "/admin/v1/accounts", _item("account"), json=body)


def list_accounts() -> Call[list[JSONObject]]:
    return Call("GET", "/admin/v1/accounts", _item("accounts"))


def get_account(account_id: str) -> Call[JSONObject]:
    return Call("GET", f"/admin/v1/accounts/{_segment(account_id)}", _item("account"))


def create_key(
    account_id: str, name: str, scopes: Sequence[str], servers: Sequence[str] | None = None
) -> Call[JSONObject]:
    body: dict[str, object] = {"name": name, "scopes": list(scopes)}
    if servers is not None:
        body["servers"] = list(servers)
    return Call("POST", f"/admin/v1/accounts/{_segment(account_id)}/keys", _identity, json=body)


def list_keys(account_id: str | None) -> Call[list[JSONObject]]:
    params = {"account_id": account_id} if account_id else {}
    return Call("GET", "/admin/v1/keys", _item("keys"), params=params)


def revoke_key(key_id: str) -> Call[JSONObject]:
    return Call("DELETE", f"/admin/v1/keys/{_segment(key_id)}", _item("key"))


def grant(account_id: str, amount: Amount, note: str | None) -> Call[float]:
    body: JSONObject = {"amount": _amount(amount)}
    if note is not None:
        body["note"] = note
    path = f"/admin/v1/accounts/{_segment(account_id)}/credits"
    return Call("POST", path, _item("balance"), json=body)


def balance(account_id: str) -> Call[float]:
    return Call("GET", f"/admin/v1/accounts/{_segment(account_id)}/balance", _item("balance"))


def audit(
    *,
    account_id: str | None = None,
    key_id: str | None = None,
    tool: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Call[JSONObject]:
    """One page of audit records: `{"records": [...newest first], "next_cursor": str | None}`."""
    given = {
        "account_id": account_id,
        "key_id": key_id,
        "tool": tool,
        "outcome": outcome,
        "since": since,
        "until": until,
        "cursor": cursor,
    }
    params = {k: v for k, v in given.items() if v is not None}
    params["limit"] = str(limit)
    return Call("GET", "/admin/v1/audit", _identity, params=params)
