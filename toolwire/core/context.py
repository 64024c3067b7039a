"""The request id of the work running now, as a context variable, for log lines.

What it is: `current_request_id()` and `bound(request_id)`, a context manager that sets it for
a block (asyncio tasks started inside inherit it). The HTTP middleware binds the request's id,
`Gateway.execute` the call's (an MCP request's own id inside a long-lived stream);
`toolwire.logs` puts it on every line as `request_id`. What it is not: where request ids are
chosen (`toolwire.inbound.middleware`).
"""

from __future__ import annotations

from contextvars import ContextVar, Token

_REQUEST_ID: ContextVar[str | None] = ContextVar("toolwire_request_id", default=None)


def current_request_id() -> str | None:
    """The request id bound in this context, None outside any request."""
    return _REQUEST_ID.get()


class bound:
    """Bind `request_id` for the block; the previous value comes back after it. A plain class,
    not `contextlib.contextmanager`: it runs twice per request (the hot path)."""

    __slots__ = ("request_id", "token")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.token: Token[str | None] | None = None

    def __enter__(self) -> None:
        if _REQUEST_ID.get() != self.request_id:  # bound already (the door, then the core)
            self.token = _REQUEST_ID.set(self.request_id)

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _REQUEST_ID.reset(self.token)
            self.token = None
