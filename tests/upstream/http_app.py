"""A local HTTP API for the declarative adapter's tests: every auth mode, every failure mode.

It echoes what it received, checks credentials the way real APIs do, and can fail on demand:
an error status whose body repeats the caller's key, a body that is not JSON, a body over any
reasonable limit, a hang, and 503s before a success (to count retries).
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

KEY = "sk-test-7d0c1f2e9b8a"
USER = "svc-user"
CLIENT_ID = "client-42"
CLIENT_SECRET = "cs-9a8b7c6d5e4f"


class Api:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.tokens_issued = 0
        self.valid_token: str | None = None
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        routes = [
            Route("/items/{item_id}", self.item, methods=["GET", "DELETE"]),
            Route("/echo", self.echo, methods=["POST", "PUT"]),
            Route("/auth/{mode}", self.auth, methods=["GET"]),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/protected", self.protected, methods=["GET"]),
            Route("/fail/{status:int}", self.fail, methods=["GET", "POST"]),
            Route("/text", self.text, methods=["GET"]),
            Route("/huge", self.huge, methods=["GET"]),
            Route("/hang", self.hang, methods=["GET"]),
            Route("/flaky", self.flaky, methods=["GET", "POST"]),
            Route("/redirect/{status:int}", self.redirect, methods=["GET", "POST"]),
            Route("/status/{status:int}", self.status, methods=["GET", "POST"]),
            Route("/raw", self.raw, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    async def item(self, request: Request) -> Response:
        self.hits["item"] += 1
        return JSONResponse(
            {
                "id": request.path_params["item_id"],
                "query": dict(request.query_params.multi_items()),
                "method": request.method,
                "header": request.headers.get("x-trace"),
            }
        )

    async def echo(self, request: Request) -> Response:
        return JSONResponse({"body": await request.json(), "method": request.method})

    async def auth(self, request: Request) -> Response:
        mode = request.path_params["mode"]
        basic = base64.b64encode(f"{USER}:{KEY}".encode()).decode()
        expected = {
            "header": request.headers.get("x-api-key") == f"Token {KEY}",
            "bearer": request.headers.get("authorization") == f"Bearer {KEY}",
            "basic": request.headers.get("authorization") == f"Basic {basic}",
            "query": request.query_params.get("api_key") == KEY,
        }
        if not expected[mode]:
            return JSONResponse({"error": {"message": "unauthorized"}}, 401)
        return JSONResponse({"ok": True, "mode": mode})

    async def token(self, request: Request) -> Response:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = await request.form()
        if request.headers.get("authorization") != f"Basic {basic}":
            return JSONResponse({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        self.tokens_issued += 1
        self.valid_token = f"at-{self.tokens_issued}-{CLIENT_SECRET[:4]}"
        return JSONResponse(
            {"access_token": self.valid_token, "token_type": "Bearer", "expires_in": 3600}
        )

    async def protected(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.valid_token}":
            return JSONResponse({"error": "invalid_token"}, 401)
        return JSONResponse({"ok": True})

    async def fail(self, request: Request) -> Response:
        status = request.path_params["status"]
        echoed = request.headers.get("authorization", "")
        return JSONResponse(
            {"error": {"message": f"quota exceeded for {echoed}", "raw": echoed}}, status
        )

    async def text(self, request: Request) -> Response:
        return PlainTextResponse("<html>not json</html>")

    async def huge(self, request: Request) -> Response:
        return JSONResponse({"blob": "x" * 200_000})

    async def hang(self, request: Request) -> Response:
        await asyncio.Event().wait()
        return Response()  # pragma: no cover

    async def redirect(self, request: Request) -> Response:
        """A redirect with a JSON body, to wherever `to` says."""
        self.hits["redirect"] += 1
        to = request.query_params.get("to", "https://elsewhere.test/")
        return JSONResponse({"moved": True}, request.path_params["status"], {"location": to})

    async def status(self, request: Request) -> Response:
        """Any status, with the `Retry-After` given in the query (`retry_after`), counted."""
        self.hits["status"] += 1
        headers = {}
        if "retry_after" in request.query_params:
            headers["retry-after"] = request.query_params["retry_after"]
        body = {"error": {"message": "slow down"}}
        return JSONResponse(body, request.path_params["status"], headers)

    async def raw(self, request: Request) -> Response:
        """The body given in the query as hex bytes (`hex`), as application/json."""
        return Response(
            bytes.fromhex(request.query_params["hex"]), 200, media_type="application/json"
        )

    async def flaky(self, request: Request) -> Response:
        self.hits["flaky"] += 1
        if self.hits["flaky"] < 3:
            return JSONResponse({"error": "busy"}, 503)
        return JSONResponse({"ok": True, "attempt": self.hits["flaky"]})


class Recorder:
    """Another origin: answers every request with 200 and keeps what it received, so a test can
    show a credential never reached it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            self.requests.append(
                {
                    "url": str(request.url),
                    "headers": dict(request.headers),
                    "body": (await request.body()).decode("utf-8", "replace"),
                }
            )
            return JSONResponse({"recorded": True})

        methods = ["GET", "POST", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", record, methods=methods)])
