"""Local servers that follow each provider's documented HTTP contract (request shape, auth,
response shape, error shape), as far as the provider specs in examples/providers/ rely on it.

Each app records the requests it received (`hits`) so tests can assert what was sent. The
providers' docs, as summarised in each spec's comments:

    Tavily     POST /search, Authorization: Bearer; {"query", "max_results", ...}
               -> {"query", "results": [{"title", "url", "content", "score"}], "response_time"}
    Exa        POST /search, x-api-key; {"query", "numResults", "contents": {"text": ...}}
               -> {"results": [{"id", "title", "url", "text", "publishedDate", "author"}]}
    Brave      GET /res/v1/web/search?q=&count=, X-Subscription-Token
               -> {"type": "search", "web": {"results": [{"title", "url", "description"}]}}
    Resend     POST /emails, Authorization: Bearer; {"from", "to", "subject", "html"|"text"}
               -> {"id"}
    SendGrid   POST /v3/mail/send, Authorization: Bearer; {"personalizations": [{"to": [{"email"}]}],
               "from": {"email"}, "subject", "content": [{"type", "value"}]}
               -> 202, empty body, X-Message-Id header
    Firecrawl  POST /v1/scrape, Authorization: Bearer; {"url", "formats": ["markdown"]}
               -> {"success": true, "data": {"markdown", "metadata": {"title", "sourceURL"}}}

Errors follow each provider's documented shape (e.g. Tavily {"detail": {"error": ...}}, Resend
{"statusCode", "name", "message"}, SendGrid {"errors": [{"message"}]}).
"""

# ruff: noqa: E501  (payloads mirror the providers' documented shapes, one per line)
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Hits = list[dict[str, Any]]
Handler = Callable[[Request], Awaitable[Response]]

PAGES = [
    {"title": "Model Context Protocol", "url": "https://modelcontextprotocol.io/", "text": "MCP is an open protocol."},
    {"title": "toolwire", "url": "https://example.org/toolwire", "text": "An MCP gateway."},
    {"title": "JSON-RPC 2.0", "url": "https://www.jsonrpc.org/specification", "text": "A stateless RPC."},
]  # fmt: skip


async def _record(request: Request, hits: Hits) -> Any:
    body = await request.body()
    entry = {
        "method": request.method,
        "path": request.url.path,
        "query": dict(request.query_params),
        "headers": dict(request.headers),
        "json": None,
    }
    if body:
        import json

        entry["json"] = json.loads(body)
    hits.append(entry)
    return entry["json"]


def tavily(key: str, hits: Hits) -> Starlette:
    async def search(request: Request) -> Response:
        body = await _record(request, hits)
        if request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse(
                {"detail": {"error": "Unauthorized: missing or invalid API key."}}, 401
            )
        n = int(body.get("max_results", 5))
        results = [
            {
                "title": p["title"],
                "url": p["url"],
                "content": p["text"],
                "score": 0.9,
                "raw_content": None,
            }
            for p in PAGES[:n]
        ]
        return JSONResponse({"query": body["query"], "results": results, "response_time": 0.5})

    return Starlette(routes=[Route("/search", search, methods=["POST"])])


def exa(key: str, hits: Hits) -> Starlette:
    async def search(request: Request) -> Response:
        body = await _record(request, hits)
        if request.headers.get("x-api-key") != key:
            return JSONResponse({"error": "Invalid API key"}, 401)
        n = int(body.get("numResults", 10))
        results = [
            {"id": p["url"], "title": p["title"], "url": p["url"], "text": p["text"],
             "publishedDate": "2025-01-01T00:00:00.000Z", "author": None}
            for p in PAGES[:n]
        ]  # fmt: skip
        return JSONResponse({"requestId": "r1", "results": results})

    return Starlette(routes=[Route("/search", search, methods=["POST"])])


def brave(key: str, hits: Hits) -> Starlette:
    async def search(request: Request) -> Response:
        await _record(request, hits)
        if request.headers.get("x-subscription-token") != key:
            return JSONResponse(
                {"type": "ErrorResponse", "error": {"status": 401, "detail": "bad token"}}, 401
            )
        n = int(request.query_params.get("count", 20))
        results = [
            {"title": p["title"], "url": p["url"], "description": p["text"]} for p in PAGES[:n]
        ]
        return JSONResponse(
            {
                "type": "search",
                "query": {"original": request.query_params["q"]},
                "web": {"type": "search", "results": results},
            }
        )

    return Starlette(routes=[Route("/res/v1/web/search", search, methods=["GET"])])


def resend(key: str, hits: Hits) -> Starlette:
    async def send(request: Request) -> Response:
        body = await _record(request, hits)
        if request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse(
                {"statusCode": 401, "name": "missing_api_key", "message": "Missing API key"}, 401
            )
        if "@" not in str(body.get("from", "")):
            return JSONResponse(
                {"statusCode": 422, "name": "validation_error", "message": "Invalid `from` field."},
                422,
            )
        return JSONResponse({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})

    return Starlette(routes=[Route("/emails", send, methods=["POST"])])


def sendgrid(key: str, hits: Hits) -> Starlette:
    async def send(request: Request) -> Response:
        body = await _record(request, hits)
        if request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse(
                {
                    "errors": [
                        {"message": "The provided authorization grant is invalid.", "field": None}
                    ]
                },
                401,
            )
        if not body.get("personalizations"):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "The personalizations field is required.",
                            "field": "personalizations",
                        }
                    ]
                },
                400,
            )
        return Response(status_code=202, headers={"X-Message-Id": "sg-msg-0001"})

    return Starlette(routes=[Route("/v3/mail/send", send, methods=["POST"])])


def firecrawl(key: str, hits: Hits) -> Starlette:
    async def scrape(request: Request) -> Response:
        body = await _record(request, hits)
        if request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse({"success": False, "error": "Unauthorized: Invalid token"}, 401)
        url = body["url"]
        data = {
            "markdown": f"# Page\n\nContent of {url}",
            "metadata": {"title": "Page", "sourceURL": url, "statusCode": 200},
        }
        return JSONResponse({"success": True, "data": data})

    return Starlette(routes=[Route("/v1/scrape", scrape, methods=["POST"])])
