"""The small uniform face every door of the matrix shows the behaviour tests.

A `Door` speaks one front-door protocol to a real gateway and reports what came back as an
`Answer`: a normalised view (ok, the toolwire error code the door carried, the tool's data, the
receipt) plus `wire`, the protocol-level form of the answer (HTTP status, JSON-RPC error code,
`isError` result, SDK exception class). `expected_error(code)` computes the `Wire` a code must
take at that door from the door's own error table in `toolwire/inbound/*` (or the SDK's reverse
table), so no status or JSON-RPC number is written in a test.

Doors are synchronous to the tests: their async clients run in one shared anyio portal (a loop
in a thread), where sessions stay open for the whole run. What this is not: a client library;
each door uses the real client its users use (httpx, the official `mcp` SDK, toolwire's SDK).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, cast

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from toolwire.core import names
from toolwire.testing import RunningGateway

T = TypeVar("T")

CALL_TIMEOUT_S = 20.0
"""Upper bound of one door operation; a door that hangs fails its test instead of the run."""

VARYING_META = frozenset({"request_id", "latency_ms"})
"""Receipt fields that differ between any two requests."""

Stage = Literal["call", "admission"]
"""Where a failure happens: in the call path (`call`), or before it, while the door admits the
request (`admission`: authentication, body, transport checks)."""


@dataclass(frozen=True, slots=True)
class Wire:
    """The protocol-level form of an answer.

    form:   "envelope" (REST/SDK JSON envelope), "exception" (SDK), "tool-message" (OpenAI),
            "isError" (MCP tool result), "rpc-error" (JSON-RPC error), "result" (success),
            "exit" (a stdio process that ended instead of answering)
    code:   the JSON-RPC error code, the SDK exception class name, or a process exit code
    status: the HTTP status the answer travelled with (None: no HTTP, or not in any table)
    """

    form: str
    code: int | str | None = None
    status: int | None = None

    def matches(self, expected: Wire) -> bool:
        """Equal, except that an expected `status` of None (no table row says it) is not
        compared."""
        same = (self.form, self.code) == (expected.form, expected.code)
        return same and (expected.status is None or self.status == expected.status)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one door answered to one call, normalised."""

    ok: bool
    wire: Wire
    code: str | None = None
    """The toolwire error code the answer carried (None on success, or when it carried none)."""
    message: str | None = None
    details: Any = None
    data: Any = None
    meta: Mapping[str, Any] | None = None
    """The receipt (`request_id`, `credits_charged`, `balance`, ...) where the door gives one."""
    raw: Any = None
    retry_after: float | None = None
    """The delay the door's own retry signal carries, where it has one beside the error's
    details: REST's `Retry-After` header, the SDK exception's `retry_after`."""

    @property
    def request_id(self) -> str | None:
        value = (self.meta or {}).get("request_id")
        return value if isinstance(value, str) else None

    def comparable(self, name: str) -> tuple[Any, ...]:
        """This answer with what legitimately differs between two requests removed: request
        ids and timings, and the tool's own name (echoed in messages, details and receipt)."""

        spellings = (name, name.replace(".", "__"))  # canonical, and as OpenAI spells it

        def scrub(value: Any) -> Any:
            text = json.dumps(value)
            for spelling in spellings:
                text = text.replace(spelling, "<tool>")
            return json.loads(text)

        receipt = {k: v for k, v in (self.meta or {}).items() if k not in VARYING_META}
        return (
            self.ok,
            self.wire,
            self.code,
            scrub(self.message),
            scrub(self.details),
            scrub(receipt),
        )


@dataclass(frozen=True, slots=True)
class Key:
    """An API key of an account, as the admin API created it."""

    secret: str
    key_id: str
    account_id: str


class NoTableRow(AssertionError):
    """The door's error table has no row for a code: the expectation cannot be computed."""

    def __init__(self, door: str, code: str) -> None:
        super().__init__(f"door {door!r}: no row for {code!r} in its error table")


Started = Callable[[], Awaitable[None]]
"""Returns once the call being cancelled holds its credit reservation."""


class Door(Protocol):
    """One front door, as the behaviour tests drive it."""

    name: str
    audit_door: str
    """The `door` field this door's calls carry in the audit log."""

    def list_tools(self, key: Key) -> set[str]:
        """Tool names this door lists for `key`, mapped back to canonical `tool.operation`."""
        ...

    def call(
        self, key: Key, tool: str, args: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Answer:
        """Call canonical `tool` with `args`; never raises for an answer the door gave."""
        ...

    def call_cancelled(
        self, key: Key, tool: str, args: Mapping[str, Any], started: Started
    ) -> None:
        """Start the call, wait for `started()`, then cancel it the door's own way."""
        ...

    def expected_error(self, code: str, stage: Stage = "call") -> Wire:
        """The `Wire` the door's error table gives `code` (`NoTableRow` when it has none)."""
        ...

    def close(self) -> None: ...


@dataclass
class World:
    """What every door is built over: one running gateway and the portal its clients run in."""

    gateway: RunningGateway
    portal: BlockingPortal
    env: dict[str, str] = field(default_factory=dict)
    """Environment for processes a door starts (stdio), e.g. PYTHONPATH for the test tools."""

    _admin: httpx.Client | None = field(default=None, init=False, repr=False)

    def admin(self) -> httpx.Client:
        """One admin API client for the run (closed by `close`)."""
        if self._admin is None:
            self._admin = self.gateway.admin()
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()

    def new_key(
        self, credits: float, scopes: list[str], name: str, servers: list[str] | None = None
    ) -> Key:
        """A new account with `credits` and one key with `scopes`, limited to the virtual
        `servers` when given."""
        admin = self.admin()
        account = admin.post("/admin/v1/accounts", json={"name": name, "credits": credits})
        account.raise_for_status()
        account_id = account.json()["account"]["id"]
        made = admin.post(
            f"/admin/v1/accounts/{account_id}/keys",
            json={"name": name, "scopes": scopes, "servers": servers},
        )
        made.raise_for_status()
        return Key(made.json()["secret"], made.json()["key"]["id"], account_id)

    def balance(self, key: Key) -> float:
        """The account's balance in credits, through the admin API."""
        reply = self.admin().get(f"/admin/v1/accounts/{key.account_id}/balance")
        reply.raise_for_status()
        value: float = reply.json()["balance"]
        return value

    async def abalance(self, key: Key) -> float:
        headers = {"Authorization": f"Bearer {self.gateway.admin_key}"}
        async with httpx.AsyncClient(base_url=self.gateway.url, headers=headers) as admin:
            reply = await admin.get(f"/admin/v1/accounts/{key.account_id}/balance")
            value: float = reply.json()["balance"]
            return value


def offline_world() -> World:
    """A world with no gateway and no portal: enough to build a door and read its error table
    (`expected_error`); anything that does I/O fails."""
    return World(gateway=cast(RunningGateway, None), portal=cast(BlockingPortal, None))


class PortalDoor:
    """Runs a door's async clients in the world's portal, each operation bounded in time.

    Subclasses implement `alist_tools`, `acall`, `astart_call` (the call as a coroutine to
    cancel) and `expected_error`; sessions they open stay open in `self.stack` until `close`.
    """

    name = "?"
    audit_door = "?"

    def __init__(self, world: World) -> None:
        self.world = world
        self.stack = contextlib.ExitStack()

    @property
    def portal(self) -> BlockingPortal:
        return self.world.portal

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        async def bounded() -> T:
            with anyio.fail_after(CALL_TIMEOUT_S):
                return await fn(*args)

        return self.portal.call(bounded)

    def list_tools(self, key: Key) -> set[str]:
        return self.run(self.alist_tools, key)

    def call(
        self, key: Key, tool: str, args: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Answer:
        return self.run(self.acall, key, tool, dict(args), idempotency_key)

    def call_cancelled(
        self, key: Key, tool: str, args: Mapping[str, Any], started: Started
    ) -> None:
        async def cancelled() -> None:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self.acall, key, tool, dict(args), None)
                await started()
                tasks.cancel_scope.cancel()

        self.run(cancelled)

    async def alist_tools(self, key: Key) -> set[str]:
        raise NotImplementedError

    async def acall(
        self, key: Key, tool: str, args: dict[str, Any], idempotency_key: str | None
    ) -> Answer:
        raise NotImplementedError

    def close(self) -> None:
        self.stack.close()


def canonical_name(external: str, fmt: names.Format) -> str:
    """A tool name as a door's format spells it, back as canonical `tool.operation`."""
    tool, operation = names.parse(external, fmt)
    return names.qualified(tool, operation or tool)


def error_fields(error: Any) -> tuple[str | None, str | None, Any]:
    """(code, message, details) of a toolwire error body `{"code", "message", "details"?}`."""
    if not isinstance(error, Mapping):
        return None, None, None
    code = error.get("code")
    message = error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
        error.get("details"),
    )
