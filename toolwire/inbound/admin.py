"""The admin API under `/admin/v1`: accounts, keys and credits, for the admin key only.

Amounts arrive in credits (up to 6 decimals) and are stored as micro-credits. Every rule (the
admin check, amount limits, cache invalidation) is `toolwire.core.admin.Admin`'s; this door only
translates HTTP onto it, as the CLI translates a terminal onto it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolwire.core import pins
from toolwire.core.admin import Admin
from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.core.model import micro_to_credits
from toolwire.inbound.http import json_response, parse_json, read_body
from toolwire.inbound.rest import authenticate, error_response, request_id, services

Handler = Callable[[Request, Admin], Awaitable[Any]]


def admin(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: `Admin.require_admin`, errors rendered as the REST envelope."""

    async def endpoint(request: Request) -> Response:
        rid = request_id(request)
        try:
            svc = services(request)
            svc.admin.require_admin(await authenticate(request))
            body = await handler(request, svc.admin)
        except ToolwireError as exc:
            return error_response(exc, rid)
        return json_response(body, status, {"x-request-id": rid})

    return endpoint


async def _json_object(request: Request, fields: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object with only `fields` (an unknown field is refused, not ignored)."""
    raw = await read_body(request)
    body = parse_json(raw) if raw else {}
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    unknown = sorted(set(body) - fields)
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)}", details={"fields": unknown})
    return body


def _name(body: dict[str, Any], default: str | None = None) -> str:
    return Admin.parse_name(body.get("name", default))


def _scopes(body: dict[str, Any]) -> list[str]:
    scopes = body.get("scopes", ["*"])
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        raise InvalidRequest("'scopes' must be a list of non-empty strings")
    return list(scopes)


async def create_account(request: Request, admin: Admin) -> Any:
    body = await _json_object(request, frozenset({"name", "credits"}))
    credits = admin.parse_amount(body.get("credits", 0), "credits")
    account = await admin.create_account(_name(body), credits)
    return {"account": account.to_dict()}


async def list_accounts(request: Request, admin: Admin) -> Any:
    return {"accounts": [a.to_dict() for a in await admin.list_accounts()]}


async def get_account(request: Request, admin: Admin) -> Any:
    return {"account": (await admin.get_account(request.path_params["account_id"])).to_dict()}


def _servers(body: dict[str, Any]) -> list[str] | None:
    servers = body.get("servers")
    if servers is not None and (
        not isinstance(servers, list) or not all(isinstance(s, str) for s in servers)
    ):
        raise InvalidRequest("'servers' must be a list of virtual server names, or null")
    return servers


async def create_key(request: Request, admin: Admin) -> Any:
    body = await _json_object(request, frozenset({"name", "scopes", "servers"}))
    info, secret = await admin.create_key(
        request.path_params["account_id"],
        _name(body, "default"),
        _scopes(body),
        servers=_servers(body),
    )
    return {"key": info.to_dict(), "secret": secret}


async def list_keys(request: Request, admin: Admin) -> Any:
    account_id = request.query_params.get("account_id")
    return {"keys": [k.to_dict() for k in await admin.list_keys(account_id)]}


async def revoke_key(request: Request, admin: Admin) -> Any:
    return {"key": (await admin.revoke_key(request.path_params["key_id"])).to_dict()}


async def grant(request: Request, admin: Admin) -> Any:
    body = await _json_object(request, frozenset({"amount", "note"}))
    account_id = request.path_params["account_id"]
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidRequest("'note' must be a string")
    amount = admin.parse_amount(body.get("amount"), "amount", positive=True)
    balance = await admin.grant(account_id, amount, note)
    return {"account_id": account_id, "balance": micro_to_credits(balance)}


async def balance(request: Request, admin: Admin) -> Any:
    account_id = request.path_params["account_id"]
    return {"account_id": account_id, "balance": micro_to_credits(await admin.balance(account_id))}


async def list_upstreams(request: Request, admin: Admin) -> Any:
    return {"upstreams": admin.upstreams()}


async def upstream_pins(request: Request, admin: Admin) -> Any:
    records = await admin.pins(request.path_params["name"])
    return {"pins": [{**r.to_dict(), "diff": pins.diff(r)} for r in records]}


async def approve_pins(request: Request, admin: Admin) -> Any:
    body = await _json_object(request, frozenset({"tool"}))
    tool = body.get("tool")
    if tool is not None and not isinstance(tool, str):
        raise InvalidRequest("'tool' must be a string")
    approved = await admin.approve(request.path_params["name"], tool)
    return {"approved": [r.to_dict() for r in approved]}


routes = [
    Route("/admin/v1/accounts", admin(create_account, 201), methods=["POST"]),
    Route("/admin/v1/accounts", admin(list_accounts), methods=["GET"]),
    Route("/admin/v1/accounts/{account_id}", admin(get_account), methods=["GET"]),
    Route("/admin/v1/accounts/{account_id}/keys", admin(create_key, 201), methods=["POST"]),
    Route("/admin/v1/accounts/{account_id}/credits", admin(grant), methods=["POST"]),
    Route("/admin/v1/accounts/{account_id}/balance", admin(balance), methods=["GET"]),
    Route("/admin/v1/keys", admin(list_keys), methods=["GET"]),
    Route("/admin/v1/keys/{key_id}", admin(revoke_key), methods=["DELETE"]),
    Route("/admin/v1/upstreams", admin(list_upstreams), methods=["GET"]),
    Route("/admin/v1/upstreams/{name}/pins", admin(upstream_pins), methods=["GET"]),
    Route("/admin/v1/upstreams/{name}/approve", admin(approve_pins), methods=["POST"]),
]
