"""What a call returns: `Result` (the tool's data) and `Meta` (the receipt every call carries).

Amounts are credits as the gateway renders them (up to 6 decimals), not micro-credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

ToolFormat = Literal["mcp", "openai", "openai-responses", "anthropic", "gemini"]
"""Tool-definition formats `GET /api/v1/tools?format=` renders."""

JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Meta:
    """The receipt of one call: request id, credits charged, balance left, latency."""

    request_id: str
    tool: str | None = None
    credits_charged: float = 0
    balance: float | None = None
    latency_ms: float = 0.0
    credential_source: str | None = None
    low_balance: bool | None = None
    """True when the balance is at or below the account's low-balance threshold."""
    replayed: bool = False
    """True when the gateway returned the stored outcome of an earlier call (Idempotency-Key)."""
    capped: dict[str, Any] | None = None
    """Set when the gateway's policy cut the result to a size cap: `{"rule", "limit_bytes",
    "original_bytes"}`."""

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Meta:
        return cls(
            request_id=str(body.get("request_id", "")),
            tool=body.get("tool"),
            credits_charged=body.get("credits_charged") or 0,
            balance=body.get("balance"),
            latency_ms=float(body.get("latency_ms") or 0.0),
            credential_source=body.get("credential_source"),
            low_balance=body.get("low_balance"),
            replayed=bool(body.get("replayed", False)),
            capped=dict(body["capped"]) if isinstance(body.get("capped"), Mapping) else None,
        )

    def to_dict(self) -> JSONObject:
        """The meta as the gateway sends it (optional fields only when they are set)."""
        body = asdict(self)
        for name in ("credential_source", "low_balance", "capped"):
            if body[name] is None:
                del body[name]
        if not self.replayed:
            del body["replayed"]
        return body


@dataclass(frozen=True, slots=True)
class Result:
    """A successful call: the tool's `data` and the call's `meta`."""

    data: Any
    meta: Meta

    def to_dict(self) -> JSONObject:
        """The REST envelope this result came from."""
        return {"ok": True, "data": self.data, "meta": self.meta.to_dict()}
