"""One small error tree for everything a call can fail with.

    ToolwireError                 (code INTERNAL)
    ├── InvalidRequest            INVALID_REQUEST      the request itself is malformed
    │   └── MissingClientCapability MISSING_CLIENT_CAPABILITY  the tool needs a capability
    │                                                  the client did not declare
    ├── Unauthenticated           UNAUTHENTICATED      no key, bad key, revoked key
    ├── Forbidden                 FORBIDDEN            the key's scopes or a policy deny it
    │   └── PolicyDenied          POLICY_DENIED        a catalog policy rule refused the call
    │                                                  (`details.rule` names the rule)
    ├── ToolNotFound              TOOL_NOT_FOUND       no such tool or operation
    ├── InvalidArguments          INVALID_ARGUMENTS    arguments fail the operation's schema
    ├── InsufficientCredits       INSUFFICIENT_CREDITS the balance cannot cover the price
    ├── RateLimited               RATE_LIMITED         a limit was hit; retry later
    ├── BudgetExceeded            BUDGET_EXCEEDED      the key's hourly or daily budget is spent
    ├── PayloadTooLarge           PAYLOAD_TOO_LARGE    body over the configured limit
    ├── Conflict                  CONFLICT             state clash (e.g. idempotency key reuse)
    ├── Unavailable               UNAVAILABLE          a store the gateway needs cannot be reached,
    │                                                  or a draining instance stopped the call
    │                                                  (`details.reason == "draining"`); nothing
    │                                                  charged; retry later
    │                                                  (`details.retry_after_s`)
    ├── NotFound                  NOT_FOUND            an admin resource (account, key) is unknown
    └── UpstreamError             UPSTREAM_ERROR       the tool or its upstream failed
        └── UpstreamTimeout       UPSTREAM_TIMEOUT     ... by not answering in time

Errors know no protocol: each front door maps `.code` to its own conventions in one table. Messages
are safe to show a caller: they never carry a secret or a traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar


class ToolwireError(Exception):
    """Base of every error the gateway reports to a caller."""

    code: ClassVar[str] = "INTERNAL"
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The wire shape every door starts from: code, message, details."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidRequest(ToolwireError):
    code = "INVALID_REQUEST"
    default_message = "invalid request"


class MissingClientCapability(InvalidRequest):
    """The tool needs a client capability (MCP `sampling`, `elicitation`, ...) the caller did
    not declare. `details={"requiredCapabilities": {name: {}}}` names them (MCP 2026-07-28
    `MissingRequiredClientCapability`, JSON-RPC -32021)."""

    code = "MISSING_CLIENT_CAPABILITY"
    default_message = "this tool needs a client capability the caller did not declare"


class Unauthenticated(ToolwireError):
    code = "UNAUTHENTICATED"
    default_message = "a valid API key is required"


class Forbidden(ToolwireError):
    code = "FORBIDDEN"
    default_message = "this key may not use this tool"


class PolicyDenied(Forbidden):
    """A rule of the catalog's `policy` section refused the call (a destructive operation
    without its grant, an argument outside its constraint, a result over its cap).
    `details={"rule": "policy.<tool>....", ...}` names the rule (docs/limits-and-policy.md)."""

    code = "POLICY_DENIED"
    default_message = "a policy rule refused this call"


class ToolNotFound(ToolwireError):
    code = "TOOL_NOT_FOUND"
    default_message = "no such tool"


class InvalidArguments(ToolwireError):
    code = "INVALID_ARGUMENTS"
    default_message = "arguments do not match the tool's input schema"


class InsufficientCredits(ToolwireError):
    code = "INSUFFICIENT_CREDITS"
    default_message = "not enough credits for this call"


class RateLimited(ToolwireError):
    """A limit was hit. `details`: `retry_after_s` (whole seconds, >= 1), `rule` (the config
    location of the limit, e.g. `limits.per_key`), `limit` (e.g. `10 per 1 minute`)."""

    code = "RATE_LIMITED"
    default_message = "rate limit exceeded"


class BudgetExceeded(ToolwireError):
    code = "BUDGET_EXCEEDED"
    default_message = "this key's spending budget is used up for now"


class PayloadTooLarge(ToolwireError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "request body too large"


class Conflict(ToolwireError):
    code = "CONFLICT"
    default_message = "conflict"


class Unavailable(ToolwireError):
    """A store the gateway needs (the key store) cannot be reached, or an instance past its drain
    deadline stopped the call (`details.reason == "draining"`, `Gateway.stop_calls`): nothing
    was charged, and the caller should retry later. `details={"retry_after_s": int}` (seconds),
    which the HTTP doors send as `Retry-After` (RFC 9110 §10.2.3). Never carries the cause's
    text: a driver's message may name the database and its credentials."""

    code = "UNAVAILABLE"
    default_message = "the gateway cannot reach its key store right now; retry later"
    retry_after_s: ClassVar[int] = 5

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message, details=details or {"retry_after_s": self.retry_after_s})


class NotFound(ToolwireError):
    code = "NOT_FOUND"
    default_message = "not found"


class UpstreamError(ToolwireError):
    code = "UPSTREAM_ERROR"
    default_message = "the tool failed"


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    default_message = "the tool did not answer in time"


class Internal(ToolwireError):
    code = "INTERNAL"
    default_message = "internal error"


ALL_ERRORS: tuple[type[ToolwireError], ...] = (
    InvalidRequest,
    MissingClientCapability,
    Unauthenticated,
    Forbidden,
    PolicyDenied,
    ToolNotFound,
    InvalidArguments,
    InsufficientCredits,
    RateLimited,
    BudgetExceeded,
    PayloadTooLarge,
    Conflict,
    Unavailable,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    Internal,
)
"""Every concrete error, so a door's mapping table can be checked complete by a test."""

BY_CODE: dict[str, type[ToolwireError]] = {cls.code: cls for cls in ALL_ERRORS}

CANCELLED_BY_CLIENT = "cancelled by client"
"""The reason audited for a call or read whose client went away."""


def cancel_reason(exc: BaseException) -> str:
    """Why a call (or a federated read or prompt get) was cancelled: the message its canceller
    gave (`task.cancel(msg)`, e.g. an abandoned MRTR round), else the client went away. A
    cancellation is not an error of this tree: it is audited with outcome `CANCELLED`."""
    if isinstance(exc, asyncio.CancelledError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return CANCELLED_BY_CLIENT
