"""`GET /metrics`: the process's Prometheus metrics, for an admin key or the metrics token.

What it is: the text exposition format of `Services.metrics` (`toolwire.metrics`), behind one of
two credentials: `Authorization: Bearer <TOOLWIRE_METRICS_TOKEN>` (compared in constant time; a
scraper then holds nothing that can call tools or administer) or an admin API key. Any other
key is refused `FORBIDDEN`, no credential `UNAUTHENTICATED`, in the REST envelope. 404 when
metrics are off or served on their own port (`TOOLWIRE_METRICS_PORT`).

What it is not: the metrics themselves, nor the multi-process aggregation (docs/observability.md).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolwire.core.errors import Forbidden, NotFound, ToolwireError
from toolwire.inbound.rest import authenticate, error_response, request_id, services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: Request) -> Response:
    rid = request_id(request)
    svc = services(request)
    try:
        if svc.metrics is None or svc.settings.metrics_port is not None:
            raise NotFound(f"no route for {request.url.path}")
        if not _token_ok(request, svc.settings.metrics_token):
            principal = await authenticate(request)
            if not principal.is_admin:
                raise Forbidden("/metrics needs an admin key or the metrics token")
    except ToolwireError as exc:
        return error_response(exc, rid)
    text = await svc.metrics.scrape()
    return Response(text, 200, {"x-request-id": rid}, media_type=CONTENT_TYPE)


def _token_ok(request: Request, token: str | None) -> bool:
    if not token:
        return False
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


routes = [Route("/metrics", metrics, methods=["GET"])]
