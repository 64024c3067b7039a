"""The operator's upstreams page: health and the pinned definitions held for approval.

    GET  /console/upstreams
        one row per upstream (`Admin.upstreams()`: kind, breaker state, tools, pinned and held
        counts, processes, in-flight calls, last error, p50 latency in ms, with a chart of the
        p50s), a chart of p50 and p95 latency per upstream over time from the audit records
        (`?window=1h|24h|7d`, `Admin.upstream_latency`), then every held definition with its
        word-level diff (`toolwire.core.pins.diff`)
    POST /console/upstreams/{name}/approve   form: csrf, tool
        `Admin.approve(name, tool)`; 303 back with "approved", or the page again with the
        error's message (`NotFound` for an unknown upstream or tool: 404)

Health is this process's view (each instance keeps its own breakers); pins are the shared
store's. Definitions are an upstream's own text (descriptions, schemas), rendered escaped.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from toolwire.core import latency, pins
from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.inbound.console import charts
from toolwire.inbound.console.web import Visit, redirect, render, status_of

NOTICES = {"approved": "Definition approved: the tool is served again."}
MAX_TOOL = 200
"""Characters in a tool name sent by the approve form; longer is refused."""


async def upstreams(visit: Visit, *, error: str | None = None, status: int = 200) -> Response:
    admin = visit.svc.admin
    rows = admin.upstreams()
    asked = visit.request.query_params.get("window")
    window = asked if asked in latency.WINDOWS else latency.DEFAULT_WINDOW  # an allow-list
    series = await admin.upstream_latency(window)
    held: list[dict[str, Any]] = [
        {"record": r, "diff": pins.diff(r)} for r in await admin.pins() if r.held
    ]
    return render(
        visit,
        "upstreams.html",
        status,
        upstreams=rows,
        latency_chart=charts.p50_by_upstream(rows),
        over_time=charts.latency_over_time(series),
        over_time_rows=charts.latency_rows(series),
        window=window,
        windows=list(latency.WINDOWS),
        truncated=series.truncated,
        held=held,
        error=error,
        notice=NOTICES.get(visit.request.query_params.get("done", "")),
    )


async def approve(visit: Visit) -> Response:
    name = visit.request.path_params["name"]
    tool = visit.form.get("tool", "").strip()
    try:
        if not tool or len(tool) > MAX_TOOL:
            raise InvalidRequest("choose the tool whose definition to approve")
        await visit.svc.admin.approve(name, tool)
    except ToolwireError as exc:
        return await upstreams(visit, error=exc.message, status=status_of(exc))
    return redirect("/console/upstreams", "approved")
