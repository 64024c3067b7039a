"""`AsyncClient`: the asyncio shell around `_core`. It only sends; `_core` does the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from toolwire.client import _core
from toolwire.client._core import Amount, Call
from toolwire.client._models import JSONObject, Result, ToolFormat

T = TypeVar("T")


class AsyncClient:
    """An asyncio client for one toolwire gateway.

    `base_url` defaults to `TOOLWIRE_URL` (else http://127.0.0.1:8787) and `api_key` to
    `TOOLWIRE_API_KEY`. Pass `http_client` to reuse your own `httpx.AsyncClient` (its pool, proxies,
    transport); the client then leaves closing it to you.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = _core.DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = _core.resolve_base_url(base_url)
        self._headers = _core.default_headers(_core.resolve_api_key(api_key))
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self.admin = AsyncAdmin(self)

    async def execute(
        self,
        tool: str,
        input: Mapping[str, Any] | None = None,
        *,
        operation: str | None = None,
        idempotency_key: str | None = None,
        format: ToolFormat | None = None,
    ) -> Result:
        """Run one tool operation (`"echo"`, `"calc.evaluate"`, or `tool` + `operation`).

        With `format`, `tool` and `input` are what a model of that format sent back (the name
        and arguments of an Anthropic `tool_use` block or a Gemini `function_call`), and the
        gateway maps renamed argument keys back to the tool's own."""
        return await self._send(_core.execute(tool, input, operation, idempotency_key, format))

    async def tools(
        self, format: ToolFormat | None = None, q: str | None = None, category: str | None = None
    ) -> list[JSONObject]:
        """The tools this key may use; with `format`, definitions ready for that platform's SDK."""
        return await self._send(_core.tools(format, q, category))

    async def tool(self, name: str) -> JSONObject:
        """One tool operation's catalog entry (schema, price, annotations)."""
        return await self._send(_core.tool(name))

    async def run_openai_tool_calls(self, message_or_tool_calls: Any) -> list[JSONObject]:
        """Run a model's tool calls; returns the `role: tool` messages to append, in order."""
        return await self._send(_core.run_openai_tool_calls(message_or_tool_calls))

    async def me(self) -> JSONObject:
        """The calling key: account id, key id, scopes, balance."""
        return await self._send(_core.me())

    async def _send(self, call: Call[T]) -> T:
        with _core.transport_errors():
            response = await self._http.request(
                **_core.request_kwargs(self.base_url, self._headers, call)
            )
        return _core.finish(call, response)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncAdmin:
    """The admin API (`/admin/v1`); the client's key must be an admin key."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create_account(self, name: str, credits: Amount = 0) -> JSONObject:
        return await self._client._send(_core.create_account(name, credits))

    async def list_accounts(self) -> list[JSONObject]:
        return await self._client._send(_core.list_accounts())

    async def get_account(self, account_id: str) -> JSONObject:
        return await self._client._send(_core.get_account(account_id))

    async def create_key(
        self,
        account_id: str,
        name: str = "default",
        scopes: Sequence[str] = ("*",),
        servers: Sequence[str] | None = None,
    ) -> JSONObject:
        """`{"key": {...}, "secret": "tw_..."}`; the secret is shown this once. `servers`
        limits the key to those virtual servers (None: the whole catalog)."""
        return await self._client._send(_core.create_key(account_id, name, scopes, servers))

    async def list_keys(self, account_id: str | None = None) -> list[JSONObject]:
        return await self._client._send(_core.list_keys(account_id))

    async def revoke_key(self, key_id: str) -> JSONObject:
        return await self._client._send(_core.revoke_key(key_id))

    async def grant(self, account_id: str, amount: Amount, note: str | None = None) -> float:
        """Add credits; returns the new balance."""
        return await self._client._send(_core.grant(account_id, amount, note))

    async def balance(self, account_id: str) -> float:
        return await self._client._send(_core.balance(account_id))

    async def audit(
        self,
        *,
        account_id: str | None = None,
        key_id: str | None = None,
        tool: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> JSONObject:
        """One page of audit records, newest first: `{"records": [...], "next_cursor": ...}`;
        pass `next_cursor` back as `cursor` for the next page (None: no more). `since` and
        `until` are relative (``"1h"``, ``"7d"``) or ISO 8601."""
        return await self._client._send(
            _core.audit(
                account_id=account_id,
                key_id=key_id,
                tool=tool,
                outcome=outcome,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        )
