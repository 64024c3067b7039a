"""The audit records over HTTP, for the admin key only:

    GET /admin/v1/audit?account_id=&key_id=&tool=&outcome=&since=&until=&limit=&cursor=
        {"records": [...newest first], "next_cursor": "..." | null}
    GET /admin/v1/audit/export?account_id=&key_id=&tool=&outcome=&since=&until=
        application/x-ndjson: one record per line, oldest first, streamed

`since` / `until` are relative (``1h``, ``7d``) or ISO 8601 (UTC when naive); `until` is
exclusive. Records are `toolwire.core.records.AuditRecord.to_dict()` (docs/audit.md). Every rule
is `toolwire.core.admin.Admin`'s, as for `toolwire audit` in the CLI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from toolwire.core.errors import InvalidRequest
from toolwire.core.model import Principal
from toolwire.core.records import AuditFilter, AuditRecord, audit_filter
from toolwire.inbound.admin_billing import endpoint
from toolwire.inbound.face import Face

FILTERS = ("account_id", "key_id", "tool", "outcome", "since", "until")
_PAGE = frozenset({*FILTERS, "limit", "cursor"})
NDJSON = "application/x-ndjson"


def _filter(request: Request, allowed: frozenset[str]) -> AuditFilter:
    params = request.query_params
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown parameters: {', '.join(unknown)}", details={"parameters": unknown}
        )
    return audit_filter(
        account_id=params.get("account_id"),
        key_id=params.get("key_id"),
        tool=params.get("tool"),
        outcome=params.get("outcome"),
        since=params.get("since"),
        until=params.get("until"),
    )


async def _page(request: Request, svc: Face, principal: Principal) -> Any:
    where = _filter(request, _PAGE)
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or len(raw) > 6:
        raise InvalidRequest("'limit' must be an integer from 1 to 1000")
    records, cursor = await svc.admin.audit(
        where, limit=int(raw), cursor=request.query_params.get("cursor")
    )
    return 200, {"records": [r.to_dict() for r in records], "next_cursor": cursor}


async def _export(request: Request, svc: Face, principal: Principal) -> Any:
    where = _filter(request, frozenset(FILTERS))
    return StreamingResponse(_lines(svc.admin.audit_export(where)), media_type=NDJSON)


async def _lines(records: AsyncIterator[AuditRecord]) -> AsyncIterator[bytes]:
    async for record in records:
        yield orjson.dumps(record.to_dict()) + b"\n"


routes = [
    Route("/admin/v1/audit", endpoint(_page), methods=["GET"]),
    Route("/admin/v1/audit/export", endpoint(_export), methods=["GET"]),
]
