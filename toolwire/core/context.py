"""The request id of the work running now, as a context variable, for log lines.

What it is: `current_request_id()` and `bound(request_id)`, a context manager that sets it for
a block (asyncio tasks started inside inherit it). The HTTP middleware binds the request's id,
`Gateway.execute` the call's (an MCP request's own id inside a long-lived stream);
`toolwire.logs` puts it on every line as `request_id`. What it is not: where request ids are
chosen (`toolwire.inbound.middleware`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_REQUEST_ID: ContextVar[str | None] = ContextVar("toolwire_request_id", default=None)


def current_request_id() -> str | None:
    """The request id bound in this context, None outside any request."""
    return _REQUEST_ID.get()


@contextlib.contextmanager
def bound(request_id: str) -> Iterator[None]:
    """Bind `request_id` for the block; the previous value comes back after it."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)
