"""The canary: a secret planted in the vault appears in no log line, response, error or audit
record, across a success and every failure path (provider error echoing the key, timeout,
non-JSON, oversized body, crash in the adapter, SSRF refusal, missing credential)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.upstream.harness import gateway_over
from tests.upstream.servers import Served, serving
from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec

CANARY = "canary-9e4d2b7f1a6c3e8d"


def _app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def ok(request: Request) -> Response:  # a careless API that echoes the key back
        return JSONResponse({"you_sent": request.headers.get("authorization")})

    async def fail(request: Request) -> Response:
        auth = request.headers.get("authorization")
        return JSONResponse({"error": f"bad key {auth}", "detail": auth}, 403)

    async def text(request: Request) -> Response:
        return PlainTextResponse(f"oops {request.headers.get('authorization')}", 200)

    async def big(request: Request) -> Response:
        return JSONResponse({"k": request.headers.get("authorization"), "pad": "x" * 5000})

    async def hang(request: Request) -> Response:
        import asyncio

        await asyncio.Event().wait()
        return Response()  # pragma: no cover

    return Starlette(routes=[Route(f"/{f.__name__}", f) for f in (ok, fail, text, big, hang)])


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(_app()) as s:
        yield s


def _config(url: str) -> dict[str, Any]:
    def op(path: str, error_message: str | None = None) -> dict[str, Any]:
        found = {
            "upstream": "u",
            "description": path,
            "input_schema": {"type": "object"},
            "path": path,
        }
        if error_message:
            found["error_message"] = error_message
        return found

    url_schema = {"type": "object", "properties": {"url": {"type": "string"}}}
    fetch = {"upstream": "open", "description": "any", "url": "{+url}", "input_schema": url_schema}
    missing = {**op("/ok"), "upstream": "nokey"}
    return {
        "upstreams": {
            "u": {
                "base_url": url,
                "allow_private_networks": True,
                "timeout": 0.5,
                "max_response_bytes": 1000,
                "auth": {"type": "bearer", "secret": "planted"},
            },
            "open": {
                "base_url": "http://127.0.0.1:1",
                "auth": {"type": "query", "name": "key", "secret": "planted"},
            },
            "nokey": {
                "base_url": url,
                "allow_private_networks": True,
                "auth": {"type": "bearer", "secret": "unset"},
            },
        },
        "tools": {
            "c": {
                "description": "canary",
                "operations": {
                    "ok": op("/ok"),
                    "fail": op("/fail", "error"),
                    "text": op("/text"),
                    "big": op("/big"),
                    "hang": op("/hang"),
                    "ssrf": fetch,
                    "missing": missing,
                },
            }
        },
        "prices": {"c": 1},
    }


class Crashing:
    """An adapter that crashes with the credential in its exception text."""

    async def invoke(self, operation: Any, arguments: Any, ctx: Any) -> Any:
        raise RuntimeError(f"crashed holding {ctx.credentials['secret']}")


async def test_the_planted_secret_never_leaves_the_gateway(
    served: Served, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with gateway_over(db_url, _config(served.url), {"planted": CANARY}) as h:
        crash = OperationSpec(
            "crash", "d", {"type": "object"}, Crashing(), credentials={"secret": "planted"}
        )
        await h.gateway.swap_catalog(
            Catalog([ToolSpec("x", "crashing tool", (crash,)), *_tools(h)])
        )
        outcomes = {
            name: await h.call(name, **args)
            for name, args in [
                ("c.ok", {}),
                ("c.fail", {}),
                ("c.text", {}),
                ("c.big", {}),
                ("c.hang", {}),
                ("c.ssrf", {"url": "http://127.0.0.1:1/"}),
                ("c.missing", {}),
                ("x.crash", {}),
            ]
        }
        await h.store.audit.flush()
        audit = await h.store.audit.recent(100)
    codes = {n: (o.error.code if o.error else "OK") for n, o in outcomes.items()}
    assert codes == {
        "c.ok": "OK",
        "c.fail": "UPSTREAM_ERROR",
        "c.text": "UPSTREAM_ERROR",
        "c.big": "UPSTREAM_ERROR",
        "c.hang": "UPSTREAM_TIMEOUT",
        "c.ssrf": "FORBIDDEN",
        "c.missing": "UPSTREAM_ERROR",
        "x.crash": "UPSTREAM_ERROR",
    }
    assert outcomes["c.ok"].data == {"you_sent": "Bearer [REDACTED]"}
    rendered = repr(
        [
            (o.data, o.error.to_dict() if o.error else None, o.meta.to_dict())
            for o in outcomes.values()
        ]
    )
    assert CANARY not in rendered
    assert len(audit) >= len(outcomes)
    assert CANARY not in repr([a.to_dict() for a in audit])
    assert any("crashed" in r.getMessage() or "x.crash" in r.getMessage() for r in caplog.records)
    assert CANARY not in caplog.text
    assert all(CANARY not in r.getMessage() for r in caplog.records)


def _tools(h: Any) -> list[ToolSpec]:
    """The harness catalog's tools, rebuilt as specs (to add the crashing tool beside them)."""
    by_tool: dict[str, list[OperationSpec]] = {}
    descriptions: dict[str, str] = {}
    for op in h.gateway.catalog:
        descriptions[op.tool] = op.tool_description
        by_tool.setdefault(op.tool, []).append(
            OperationSpec(op.name, op.description, op.input_schema, op.adapter, price=op.price,
                          timeout=op.timeout, credentials=op.credentials)
        )  # fmt: skip
    return [ToolSpec(t, descriptions[t], tuple(ops)) for t, ops in by_tool.items()]


QUERY_KEY = "k3y+Part/Two=="
"""The reported input: httpx logged it as `k3y%2BPart%2FTwo%3D%3D`, and a `next` link echoed it."""


async def test_a_query_parameter_key_is_masked_in_its_url_encoded_forms_too(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def page(request: Request) -> JSONResponse:
        return JSONResponse({"items": [], "next": str(request.url), "raw": request.url.query})

    cfg = {
        "upstreams": {
            "q": {
                "base_url": "",
                "allow_private_networks": True,
                "auth": {"type": "query", "name": "api_key", "secret": "qkey"},
            }
        },
        "tools": {
            "p": {
                "description": "pages",
                "operations": {
                    "list": {
                        "upstream": "q",
                        "description": "d",
                        "input_schema": {"type": "object"},
                        "path": "/items",
                    }
                },
            }
        },
    }
    caplog.set_level(logging.DEBUG)
    # an earlier test may have run `toolwire.logs.configure`, which keeps the HTTP stacks' loggers
    # at WARNING: this test wants every line they would write (caplog restores the levels)
    for name in ("httpx", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    with serving(Starlette(routes=[Route("/items", page)])) as served:
        cfg["upstreams"]["q"]["base_url"] = served.url
        async with gateway_over(db_url, cfg, {"qkey": QUERY_KEY}) as h:
            got = await h.call("p.list")
    assert got.ok, got.error
    assert got.data["next"] == f"{served.url}/items?api_key=[REDACTED]"
    assert got.data["raw"] == "api_key=[REDACTED]"
    encoded = "k3y%2BPart%2FTwo%3D%3D"
    assert caplog.records  # the gateway's own lines were captured
    assert QUERY_KEY not in caplog.text and encoded not in caplog.text
    assert encoded.lower() not in caplog.text.lower()
