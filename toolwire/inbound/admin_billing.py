"""Billing administration over HTTP: BYOK credentials, key budgets, low-balance thresholds, usage.

    PUT    /admin/v1/accounts/{id}/byok/{provider}   {"value": "..."}  set or replace (201 / 200)
    DELETE /admin/v1/accounts/{id}/byok/{provider}                     delete
    GET    /admin/v1/accounts/{id}/byok                                providers set, never values
    PATCH  /admin/v1/accounts/{id}                   {"low_balance": 5 | null, "plan": "pro" | null}
    PUT    /admin/v1/keys/{key_id}/budget            {"hour": 10 | null, "day": 100 | null}
    GET    /admin/v1/keys/{key_id}/budget            caps and what was spent this hour and day
    GET    /admin/v1/usage?account_id=&key_id=&tool=&since=&until=&format=json|csv

and the same BYOK operations for an account's own keys under `/api/v1/me/byok`. Amounts are
credits (up to 6 decimals). A credential value goes in and never comes out: no response, log
line or error carries it. What this is not: the call path, or the accounts and keys API
(`toolwire.inbound.admin`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.core.model import Principal
from toolwire.core.records import parse_day, to_csv
from toolwire.inbound.face import Face
from toolwire.inbound.http import json_response, parse_json, read_body
from toolwire.inbound.rest import authenticate, error_response, request_id, services

Handler = Callable[[Request, Face, Principal], Awaitable[Any]]


def endpoint(handler: Handler, *, admin: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate (an admin key when `admin`), run, render JSON (or a Response as is)."""

    async def run(request: Request) -> Response:
        rid = request_id(request)
        try:
            svc = services(request)
            principal = await authenticate(request)
            if admin:
                svc.admin.require_admin(principal)
            result = await handler(request, svc, principal)
        except ToolwireError as exc:
            return error_response(exc, rid)
        if isinstance(result, Response):
            result.headers["x-request-id"] = rid
            return result
        status, body = result
        return json_response(body, status, {"x-request-id": rid})

    return run


async def _body(request: Request, svc: Face) -> dict[str, Any]:
    raw = await read_body(request)
    body = parse_json(raw) if raw else {}
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


# BYOK


async def _put_byok(svc: Face, account_id: str, provider: str, body: dict[str, Any]) -> Any:
    svc.admin.check_provider(provider)  # an unknown provider is NotFound before the body counts
    value = body.get("value")
    if not isinstance(value, str) or not value:
        raise InvalidRequest("'value' must be a non-empty string")
    if set(body) - {"value"}:
        raise InvalidRequest("only 'value' may be given")
    info, created = await svc.admin.put_byok(account_id, provider, value)
    return 201 if created else 200, {"credential": info.to_dict()}


async def _delete_byok(svc: Face, account_id: str, provider: str) -> Any:
    await svc.admin.delete_byok(account_id, provider)
    return 200, {"deleted": True, "account_id": account_id, "provider": provider}


async def _list_byok(svc: Face, account_id: str) -> Any:
    infos = await svc.admin.list_byok(account_id)
    return 200, {
        "credentials": [i.to_dict() for i in infos],
        "providers": sorted(svc.admin.byok_providers()),
    }


async def put_byok(request: Request, svc: Face, _: Principal) -> Any:
    p = request.path_params
    return await _put_byok(svc, p["account_id"], p["provider"], await _body(request, svc))


async def delete_byok(request: Request, svc: Face, _: Principal) -> Any:
    return await _delete_byok(
        svc, request.path_params["account_id"], request.path_params["provider"]
    )


async def list_byok(request: Request, svc: Face, _: Principal) -> Any:
    return await _list_byok(svc, request.path_params["account_id"])


async def put_my_byok(request: Request, svc: Face, me: Principal) -> Any:
    body = await _body(request, svc)
    return await _put_byok(svc, me.account_id, request.path_params["provider"], body)


async def delete_my_byok(request: Request, svc: Face, me: Principal) -> Any:
    return await _delete_byok(svc, me.account_id, request.path_params["provider"])


async def list_my_byok(request: Request, svc: Face, me: Principal) -> Any:
    return await _list_byok(svc, me.account_id)


# budgets and thresholds


async def put_budget(request: Request, svc: Face, _: Principal) -> Any:
    body = await _body(request, svc)
    unknown = set(body) - {"hour", "day"}
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    key_id = request.path_params["key_id"]
    hour = svc.admin.parse_optional_amount(body.get("hour"), "hour")
    day = svc.admin.parse_optional_amount(body.get("day"), "day")
    return 200, {"budget": await svc.admin.set_budget(key_id, hour, day)}


async def get_budget(request: Request, svc: Face, _: Principal) -> Any:
    return 200, {"budget": await svc.admin.budget(request.path_params["key_id"])}


async def patch_account(request: Request, svc: Face, _: Principal) -> Any:
    body = await _body(request, svc)
    if not body or not set(body) <= _ACCOUNT_PATCH:
        raise InvalidRequest(
            "give 'low_balance' (credits, or null to clear it), 'plan' (a plan of the catalog, "
            "or null to clear it), or both",
            details={"fields": sorted(_ACCOUNT_PATCH)},
        )
    account_id = request.path_params["account_id"]
    threshold = None
    if "low_balance" in body:
        threshold = svc.admin.parse_optional_amount(body.get("low_balance"), "low_balance")
    await svc.admin.get_account(account_id)  # unknown account: NotFound before any change
    if "plan" in body:  # checked first: a bad plan changes nothing
        account = await svc.admin.set_plan(account_id, body["plan"])
    if "low_balance" in body:
        account = await svc.admin.set_low_balance(account_id, threshold)
    return 200, {"account": account.to_dict()}


_ACCOUNT_PATCH = frozenset({"low_balance", "plan"})


# usage


async def usage(request: Request, svc: Face, _: Principal) -> Any:
    q = request.query_params
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("'format' is json or csv")
    rows = await svc.admin.usage(
        account_id=q.get("account_id") or None,
        key_id=q.get("key_id") or None,
        tool=q.get("tool") or None,
        since=parse_day(q.get("since"), "since"),
        until=parse_day(q.get("until"), "until"),
    )
    if fmt == "csv":
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8")
    return 200, {"usage": [r.to_dict() for r in rows], "count": len(rows)}


routes = [
    Route("/admin/v1/accounts/{account_id}/byok", endpoint(list_byok), methods=["GET"]),
    Route("/admin/v1/accounts/{account_id}/byok/{provider}", endpoint(put_byok), methods=["PUT"]),
    Route(
        "/admin/v1/accounts/{account_id}/byok/{provider}",
        endpoint(delete_byok),
        methods=["DELETE"],
    ),
    Route("/admin/v1/accounts/{account_id}", endpoint(patch_account), methods=["PATCH"]),
    Route("/admin/v1/keys/{key_id}/budget", endpoint(put_budget), methods=["PUT"]),
    Route("/admin/v1/keys/{key_id}/budget", endpoint(get_budget), methods=["GET"]),
    Route("/admin/v1/usage", endpoint(usage), methods=["GET"]),
    Route("/api/v1/me/byok", endpoint(list_my_byok, admin=False), methods=["GET"]),
    Route("/api/v1/me/byok/{provider}", endpoint(put_my_byok, admin=False), methods=["PUT"]),
    Route("/api/v1/me/byok/{provider}", endpoint(delete_my_byok, admin=False), methods=["DELETE"]),
]
