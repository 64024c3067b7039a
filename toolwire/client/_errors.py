"""The SDK's error tree: the gateway's stable error codes as exception classes, plus transport.

    ToolwireError                 any failure the SDK reports (.code, .message, .details, ...)
    ├── InvalidRequest            INVALID_REQUEST       400  the request itself is malformed
    │   └── MissingClientCapability MISSING_CLIENT_CAPABILITY 400  the tool needs a client
    │                                                     capability (MCP) not declared
    ├── Unauthenticated           UNAUTHENTICATED       401  no key, bad key, revoked key
    ├── InsufficientCredits       INSUFFICIENT_CREDITS  402  the balance cannot cover the price
    ├── Forbidden                 FORBIDDEN             403  the key's scopes deny the tool
    │   └── PolicyDenied          POLICY_DENIED         403  a policy rule refused the call
    │                                                     (.details["rule"] names it)
    ├── ToolNotFound              TOOL_NOT_FOUND        404  no such tool or operation
    ├── NotFound                  NOT_FOUND             404  no such account, key or route
    ├── Conflict                  CONFLICT              409  e.g. an idempotency key reused
    ├── PayloadTooLarge           PAYLOAD_TOO_LARGE     413  body over the gateway's limit
    ├── InvalidArguments          INVALID_ARGUMENTS     422  arguments fail the input schema
    ├── RateLimited               RATE_LIMITED          429  retry later (see .retry_after)
    ├── BudgetExceeded            BUDGET_EXCEEDED       429  the key's hourly/daily spend cap
    ├── Internal                  INTERNAL              500  the gateway failed
    ├── UpstreamError             UPSTREAM_ERROR        502  the tool or its upstream failed
    │   └── UpstreamTimeout       UPSTREAM_TIMEOUT      504  ... by not answering in time
    ├── Unavailable               UNAVAILABLE           503  the gateway cannot reach its key
    │                                                        store; retry later (.retry_after)
    └── TransportError            (also a ConnectionError) the gateway could not be reached
        └── TransportTimeout      (also a TimeoutError)    ... or did not answer in time

These are the client's own classes: the SDK imports nothing from the server, so installing it
needs only httpx. A code this SDK does not know yet is raised as `ToolwireError` with that code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from toolwire.client._models import Meta


class ToolwireError(Exception):
    """Base of every error the SDK raises. `code` is the gateway's stable error code."""

    code: str = "INTERNAL"
    default_message: ClassVar[str] = "toolwire error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        status: int | None = None,
        request_id: str | None = None,
        meta: Meta | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.details = details
        self.status = status
        self.request_id = request_id
        self.meta = meta
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error as the gateway sent it: code, message and details when there are any."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidRequest(ToolwireError):
    code = "INVALID_REQUEST"


class Unauthenticated(ToolwireError):
    code = "UNAUTHENTICATED"


class InsufficientCredits(ToolwireError):
    code = "INSUFFICIENT_CREDITS"


class Forbidden(ToolwireError):
    code = "FORBIDDEN"


class ToolNotFound(ToolwireError):
    code = "TOOL_NOT_FOUND"


class NotFound(ToolwireError):
    code = "NOT_FOUND"


class Conflict(ToolwireError):
    code = "CONFLICT"


class MissingClientCapability(InvalidRequest):
    code = "MISSING_CLIENT_CAPABILITY"


class PayloadTooLarge(ToolwireError):
    code = "PAYLOAD_TOO_LARGE"


class InvalidArguments(ToolwireError):
    code = "INVALID_ARGUMENTS"


class RateLimited(ToolwireError):
    """A limit was hit; `.retry_after` says in how many seconds to retry (from `Retry-After`,
    else the error's `details.retry_after_s`), `.details["rule"]` which limit."""

    code = "RATE_LIMITED"


class PolicyDenied(Forbidden):
    """A rule of the gateway's policy refused the call; `.details["rule"]` names it."""

    code = "POLICY_DENIED"


class BudgetExceeded(ToolwireError):
    code = "BUDGET_EXCEEDED"


class Internal(ToolwireError):
    code = "INTERNAL"


class UpstreamError(ToolwireError):
    code = "UPSTREAM_ERROR"


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"


class Unavailable(ToolwireError):
    """The gateway could not reach a store it needs (its key store): nothing was decided about
    the key; retry after `retry_after` seconds."""

    code = "UNAVAILABLE"


class TransportError(ToolwireError, ConnectionError):
    """The gateway could not be reached, or its answer could not be read."""

    code = "TRANSPORT_ERROR"


class TransportTimeout(TransportError, TimeoutError):
    """The gateway did not answer within the client's timeout."""

    code = "TRANSPORT_TIMEOUT"


ERRORS_BY_CODE: dict[str, type[ToolwireError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        MissingClientCapability,
        Unauthenticated,
        InsufficientCredits,
        Forbidden,
        PolicyDenied,
        ToolNotFound,
        NotFound,
        Conflict,
        PayloadTooLarge,
        InvalidArguments,
        RateLimited,
        BudgetExceeded,
        Internal,
        UpstreamError,
        UpstreamTimeout,
        Unavailable,
    )
}
"""The one table from a gateway error code to the exception class raised for it."""

CODE_FOR_STATUS: dict[int, str] = {
    400: "INVALID_REQUEST",
    401: "UNAUTHENTICATED",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "INVALID_ARGUMENTS",
    429: "RATE_LIMITED",
    502: "UPSTREAM_ERROR",
    503: "UNAVAILABLE",
    504: "UPSTREAM_TIMEOUT",
}
"""Only for answers without a toolwire envelope (e.g. a proxy's own 413 or 502 page)."""


def error_for(code: str, message: str | None = None, **fields: Any) -> ToolwireError:
    """The exception for `code`: its class from `ERRORS_BY_CODE`, else the base class."""
    cls = ERRORS_BY_CODE.get(code, ToolwireError)
    return cls(message, code=code, **fields)
