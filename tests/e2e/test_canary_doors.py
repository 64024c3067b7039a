"""The canary, end to end: a credential in each auth mode, with values that change under URL, form,
JSON and base64 encoding, sent to a careless API that echoes everything it receives (URL, headers,
body, also base64-encoded) back in results, error messages, redirects, 429s, non-JSON and oversized
bodies, and driven through every failure path (timeout, foreign origin, dot segment) and every door
(REST with an Idempotency-Key, MCP, OpenAI tool_calls). Afterwards no form of any credential is in
any response, the gateway's log (at debug level) or any row of its database. Also: an upstream 429
comes back as RATE_LIMITED with its delay, in every door's own form, uncharged."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.upstream.servers import Served, serving
from toolwire.client import Client, RateLimited
from toolwire.settings import Settings
from toolwire.testing import RunningGateway, start_gateway

RUN = secrets.token_hex(3)
ASCII_TRICKY = 'k3y+Part/Two==&"<%41~ q'
"""A header value must be ASCII; every other character here changes under some encoding."""
VALUES = {
    "header": f"{ASCII_TRICKY}-hdr{RUN}",
    "bearer": f"{ASCII_TRICKY}-brr{RUN}",
    "basic": f"{ASCII_TRICKY}-bsc{RUN}é",
    "query": f"{ASCII_TRICKY}-qry{RUN}é",
    "oauth": f"{ASCII_TRICKY}-oau{RUN}é",
}
TOKEN = f"at+Tok/en==&{RUN}~x"
"""The access token the OAuth endpoint issues: derived, never in the vault."""
USER = "svc-user"
AUTHS: dict[str, dict[str, Any]] = {
    "header": {"type": "header", "name": "X-Api-Key", "format": "Token {secret}"},
    "bearer": {"type": "bearer"},
    "basic": {"type": "basic", "username": USER},
    "query": {"type": "query", "name": "api_key"},
    "oauth": {"type": "oauth2_client_credentials", "client_id": "c-1", "client_auth": "body"},
}
OPERATIONS = ["ok", "fail", "redirect", "limited", "text", "big", "hang", "badutf8"]
CALLS = [*OPERATIONS, "foreign", "dots"]
MCP_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def forms(value: str) -> set[str]:
    """Every form of `value` a leak could take."""
    raw = value.encode()
    found = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote(value, safe="").lower(),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(value))[1:-1],
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(f"{USER}:{value}".encode()).decode().rstrip("="),
    }
    return {f for f in found if len(f) >= 8}


CANARIES = {form: name for name, v in [*VALUES.items(), ("token", TOKEN)] for form in forms(v)}


def leaks(text: str) -> list[str]:
    return sorted({name for form, name in CANARIES.items() if form in text})


def careless_api() -> Starlette:
    async def seen(request: Request) -> dict[str, Any]:
        echo = {
            "url": str(request.url),
            "headers": dict(request.headers),
            "body": (await request.body()).decode("utf-8", "replace"),
        }
        blob = json.dumps(echo).encode()
        return {**echo, "b64": base64.b64encode(blob).decode(), "next": str(request.url)}

    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("client_secret") != VALUES["oauth"]:
            return JSONResponse({"error": "invalid_client", "got": dict(form)}, 401)
        return JSONResponse({"access_token": TOKEN, "expires_in": 3600})

    async def answer(request: Request) -> Response:
        what = request.path_params["what"]
        echo = await seen(request)
        if what == "ok":
            return JSONResponse(echo)
        if what == "fail":
            return JSONResponse({"error": f"bad credential {json.dumps(echo)}"}, 403)
        if what == "redirect":
            return JSONResponse(echo, 302, {"location": echo["url"]})
        if what == "limited":
            return JSONResponse({"error": json.dumps(echo)}, 429, {"retry-after": "120"})
        if what == "text":
            return PlainTextResponse(f"oops {json.dumps(echo)}")
        if what == "big":
            return JSONResponse({**echo, "pad": "x" * 20_000})
        if what == "badutf8":
            body = b'{"cut": "\\ud83d", "echo": ' + json.dumps(echo).encode() + b"}"
            return Response(body, 200, media_type="application/json")
        await asyncio.Event().wait()  # "hang"
        return Response()  # pragma: no cover

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/{mode}/{what}", answer, methods=["GET", "POST"]),
            Route("/{mode}/{what}/{rest:path}", answer, methods=["GET", "POST"]),
        ]
    )


def catalog(url: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"u": {"type": "string"}, "id": {"type": "string"}}}
    upstreams: dict[str, Any] = {}
    tools: dict[str, Any] = {}
    for mode, auth in AUTHS.items():
        spec = {**auth, "secret": f"{mode}_key"}
        if mode == "oauth":
            spec["token_url"] = f"{url}/oauth/token"
        upstreams[mode] = {
            "base_url": url,
            "allow_private_networks": True,
            "timeout": 3,  # only "hang" waits for it; room for a loaded machine
            "max_response_bytes": 10_000,
            "auth": spec,
        }

        def op(what: str, mode: str = mode, **more: Any) -> dict[str, Any]:
            return {"upstream": mode, "description": what, "input_schema": schema, **more}

        ops = {what: op(what, path=f"/{mode}/{what}") for what in OPERATIONS}
        ops["fail"]["error_message"] = "error"
        ops["limited"]["error_message"] = "error"
        ops["foreign"] = op("foreign", url="{+u}")
        ops["dots"] = op("dots", path=f"/{mode}/ok/{{id}}/x")
        tools[f"m{mode}"] = {"description": mode, "operations": ops}
    return {"upstreams": upstreams, "tools": tools, "prices": {t: 1 for t in tools}}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Served]:
    with serving(careless_api()) as served:
        yield served


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: Served) -> Iterator[RunningGateway]:
    from toolwire.cli.secrets import with_vault

    data = tmp_path_factory.mktemp("canary-doors")
    settings = Settings.from_env({}).with_overrides(data_dir=data)

    async def plant(vault: Any) -> None:
        for mode, value in VALUES.items():
            await vault.set(f"{mode}_key", value)

    with_vault(settings, plant)
    gw = start_gateway(data, config=catalog(upstream.url), args=["--log-level", "debug"])
    try:
        yield gw
    finally:
        gw.stop()


def arguments(what: str) -> dict[str, Any]:
    return {"foreign": {"u": "http://127.0.0.1:9/elsewhere"}, "dots": {"id": "%2e%2e"}}.get(
        what, {}
    )


async def through_every_door(gw: RunningGateway, key: str) -> list[httpx.Response]:
    auth = {"authorization": f"Bearer {key}"}
    mcp = {
        **auth,
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
    }
    limit = asyncio.Semaphore(16)

    async def send(http: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]) -> Any:
        async with limit:
            return await http.post(gw.url + path, json=body, headers=headers)

    async with httpx.AsyncClient(timeout=30) as http:
        jobs = []
        for mode in AUTHS:
            for what in CALLS:
                name, args = f"m{mode}.{what}", arguments(what)
                idem = {**auth, "idempotency-key": f"canary-{mode}-{what}"}
                rpc = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": name, "arguments": args, "_meta": MCP_META},
                }
                call = {"id": "c1", "type": "function"}
                call["function"] = {"name": f"m{mode}__{what}", "arguments": json.dumps(args)}  # type: ignore[assignment]
                jobs += [
                    send(http, "/api/v1/execute", {"tool": name, "input": args}, idem),
                    send(http, "/mcp", rpc, {**mcp, "mcp-name": name}),
                    send(http, "/api/v1/openai/tool_calls", {"tool_calls": [call]}, auth),
                ]
        return list(await asyncio.gather(*jobs))


def database_dump(path: Path) -> str:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return repr({t: db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables})


def test_an_upstream_429_is_rate_limited_with_its_delay_in_every_door(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=10, name="limited")
    with gateway.client(key) as http:
        rest = http.post("/api/v1/execute", json={"tool": "mbearer.limited", "input": {}})
        openai = http.post(
            "/api/v1/openai/tool_calls",
            json=[{"id": "c", "function": {"name": "mbearer__limited", "arguments": "{}"}}],
        )
        mcp = http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                  "params": {"name": "mbearer.limited", "arguments": {}, "_meta": MCP_META}},
            headers={"accept": "application/json, text/event-stream",
                     "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call",
                     "mcp-name": "mbearer.limited"},
        )  # fmt: skip
        balance = http.get("/api/v1/me").json()["balance"]
    assert (rest.status_code, rest.headers["retry-after"]) == (429, "120")
    assert rest.json()["error"]["code"] == "RATE_LIMITED"
    assert rest.json()["error"]["details"]["retry_after_s"] == 120
    tool_message = json.loads(openai.json()["messages"][0]["content"])
    assert tool_message["error"]["code"] == "RATE_LIMITED"
    assert tool_message["error"]["details"]["retry_after_s"] == 120
    assert mcp.status_code == 200, mcp.text
    result = mcp.json()["result"]
    assert result["isError"] is True
    assert json.loads(result["content"][0]["text"])["error"]["details"]["retry_after_s"] == 120
    with Client(gateway.url, api_key=key) as sdk, pytest.raises(RateLimited) as caught:
        sdk.execute("mbearer.limited")
    assert caught.value.retry_after == 120
    assert balance == 10


def test_no_form_of_any_credential_leaves_the_gateway_through_any_door_log_or_row(
    gateway: RunningGateway, upstream: Served
) -> None:
    _, key = gateway.create_account(credits=1000, name="canary")
    responses = asyncio.run(through_every_door(gateway, key))
    rest = [r.json() for r in responses[0::3]]
    codes = {
        f"{mode}.{what}": body.get("error", {}).get("code", "OK")
        for (mode, what), body in zip([(m, w) for m in AUTHS for w in CALLS], rest, strict=True)
    }
    expected = {
        "ok": "OK",
        "fail": "UPSTREAM_ERROR",
        "redirect": "UPSTREAM_ERROR",
        "limited": "RATE_LIMITED",
        "text": "UPSTREAM_ERROR",
        "big": "UPSTREAM_ERROR",
        "hang": "UPSTREAM_TIMEOUT",
        "badutf8": "OK",
        "foreign": "FORBIDDEN",
        "dots": "INVALID_ARGUMENTS",
    }
    assert codes == {f"{m}.{w}": expected[w] for m in AUTHS for w in CALLS}
    for mode in AUTHS:  # the credential reached the API, and came back masked
        ok = rest[list(AUTHS).index(mode) * len(CALLS)]["data"]
        assert "[REDACTED]" in json.dumps(ok), mode
    gateway.stop()  # flushes the audit and ledger writers
    wire = "\n".join(f"{r.headers}\n{r.text}" for r in responses)
    assert leaks(wire) == []
    assert leaks(gateway.logs()) == []
    assert "HTTP Request" not in gateway.logs()  # httpx's URL lines are not logged at all
    dump = database_dump(gateway.data_dir / "toolwire.db")
    assert "idempotency" in dump and "canary-bearer-ok" in dump
    assert leaks(dump) == []
