"""The operator's audit log page: filter, page by cursor, and download the match as JSON lines.

    GET /console/audit?account_id=&key_id=&tool=&outcome=&since=&until=&limit=&cursor=
        the page: up to `limit` (default `PAGE`) records, newest first, and an "Older
        records" link carrying the next cursor
    GET /console/audit/export?account_id=&key_id=&tool=&outcome=&since=&until=
        `application/x-ndjson` download, oldest first, streamed from `Admin.audit_export`

    GET /console/me/audit, /console/me/audit/export
        the same for a customer: only the signed-in key's account, whatever the query says

`since` / `until` are relative (``1h``, ``7d``) or ISO 8601 (UTC when naive), as for the admin
API and `toolwire audit` (docs/audit.md); a bad one re-renders the page with its message (400).
Only the filter fields above are read from the query (an allow-list). Records render without
their arguments (the digest and the export carry what the tool's config keeps).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import orjson
from starlette.responses import Response, StreamingResponse

from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.core.records import AuditFilter, AuditRecord, audit_filter
from toolwire.inbound.console.web import SECURITY_HEADERS, Visit, render, status_of

FILTERS = ("account_id", "key_id", "tool", "outcome", "since", "until")
PAGE = 50
"""Records on one page unless `?limit=` (1 to `MAX_PAGE`) asks otherwise."""
MAX_PAGE = 200
MAX_FIELD = 200
"""Characters kept of one filter field typed into the form."""


def _typed(visit: Visit) -> dict[str, str]:
    """The filter fields typed; a customer's account is always their own (never the query's)."""
    q = visit.request.query_params
    typed = {k: q.get(k, "").strip()[:MAX_FIELD] for k in FILTERS}
    if not visit.operator:
        typed["account_id"] = visit.me.account_id
    return typed


def _base(visit: Visit) -> str:
    return "/console/audit" if visit.operator else "/console/me/audit"


def _where(typed: dict[str, str]) -> AuditFilter:
    return audit_filter(
        account_id=typed["account_id"],
        key_id=typed["key_id"],
        tool=typed["tool"],
        outcome=typed["outcome"],
        since=typed["since"],
        until=typed["until"],
    )


async def audit(visit: Visit) -> Response:
    typed = _typed(visit)
    cursor = visit.request.query_params.get("cursor") or None
    raw = visit.request.query_params.get("limit", "").strip()
    error, status = None, 200
    records: list[AuditRecord] = []
    next_cursor: str | None = None
    try:
        if raw and (not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= MAX_PAGE):
            raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_PAGE}")
        records, next_cursor = await visit.svc.admin.audit(
            _where(typed), limit=int(raw) if raw else PAGE, cursor=cursor
        )
    except ToolwireError as exc:
        error, status = exc.message, status_of(exc)
    chosen = {k: v for k, v in typed.items() if v and (visit.operator or k != "account_id")}
    if raw and error is None:
        chosen["limit"] = raw
    return render(
        visit,
        "audit.html",
        status,
        filters=typed,
        records=records,
        accounts=await visit.svc.admin.list_accounts() if visit.operator else [],
        base=_base(visit),
        older=urlencode({**chosen, "cursor": next_cursor}) if next_cursor else None,
        newest=urlencode(chosen) if cursor else None,
        export=urlencode({k: v for k, v in chosen.items() if k in FILTERS}),
        error=error,
    )


async def export(visit: Visit) -> Response:
    where = _where(_typed(visit))  # InvalidRequest: the refused page, nothing streamed
    headers = {
        **SECURITY_HEADERS,
        "content-disposition": 'attachment; filename="toolwire-audit.jsonl"',
    }
    return StreamingResponse(
        _lines(visit.svc.admin.audit_export(where)),
        media_type="application/x-ndjson",
        headers=headers,
    )


async def _lines(records: AsyncIterator[AuditRecord]) -> AsyncIterator[bytes]:
    async for record in records:
        yield orjson.dumps(record.to_dict()) + b"\n"
