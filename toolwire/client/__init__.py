"""The toolwire Python SDK: `Client` (blocking) and `AsyncClient` (asyncio) over httpx.

    from toolwire.client import Client

    with Client("http://127.0.0.1:8787", api_key="tw_...") as client:
        result = client.execute("calc.evaluate", {"expression": "2 * (3 + 4)"})
        print(result.data, result.meta.credits_charged, result.meta.balance)

Failures raise the gateway's error codes as typed exceptions (`ToolNotFound`, `InvalidArguments`,
...; all `ToolwireError`), and an unreachable gateway raises `TransportError`. The SDK imports
nothing from the server: it needs only httpx.
"""

from toolwire.client._async import AsyncAdmin, AsyncClient
from toolwire.client._errors import (
    ERRORS_BY_CODE,
    BudgetExceeded,
    Conflict,
    Forbidden,
    InsufficientCredits,
    Internal,
    InvalidArguments,
    InvalidRequest,
    MissingClientCapability,
    NotFound,
    PayloadTooLarge,
    PolicyDenied,
    RateLimited,
    ToolNotFound,
    ToolwireError,
    TransportError,
    TransportTimeout,
    Unauthenticated,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from toolwire.client._models import Meta, Result, ToolFormat
from toolwire.client._sync import Admin, Client

__all__ = [
    "ERRORS_BY_CODE",
    "Admin",
    "AsyncAdmin",
    "AsyncClient",
    "BudgetExceeded",
    "Client",
    "Conflict",
    "Forbidden",
    "InsufficientCredits",
    "Internal",
    "InvalidArguments",
    "InvalidRequest",
    "Meta",
    "MissingClientCapability",
    "NotFound",
    "PayloadTooLarge",
    "PolicyDenied",
    "RateLimited",
    "Result",
    "ToolFormat",
    "ToolNotFound",
    "ToolwireError",
    "TransportError",
    "TransportTimeout",
    "Unauthenticated",
    "Unavailable",
    "UpstreamError",
    "UpstreamTimeout",
]
