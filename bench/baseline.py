"""The baseline every benchmark is a ratio against: a bare Starlette endpoint echoing its body.

Run under the same uvicorn settings as `toolwire serve` (uvloop, httptools, no access log).
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


app = Starlette(
    routes=[Route("/echo", echo, methods=["POST"]), Route("/mcp", echo, methods=["POST"])]
)
