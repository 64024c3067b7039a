"""A real MCP server (the official SDK's MCPServer, over stdio) whose tools ask their client
something in the middle of a call: elicitation, sampling, roots, two questions in a row, and
one that asks then works a while (for the tool timeout that pauses while the client answers).
`resolved_confirm` asks through the SDK's `Resolve`/`Elicit`, which a 2026-07-28 session turns
into an `input_required` result of the server's own (the others need a handshake-era session to
send their requests mid-call).

    python asking.py
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from pydantic import BaseModel

server = MCPServer("asking")


class Answer(BaseModel):
    answer: str


@server.tool()
async def confirm(question: str, ctx: Context) -> str:
    """Ask the user `question` (elicitation) and say what they answered."""
    result = await ctx.elicit(question, Answer)
    if result.action == "accept" and result.data is not None:
        return f"answered: {result.data.answer}"
    return f"no answer: {result.action}"


@server.tool()
async def sample(prompt: str, ctx: Context) -> str:
    """Ask the client's model to complete `prompt` (sampling)."""
    message = types.SamplingMessage(
        role="user", content=types.TextContent(type="text", text=prompt)
    )
    result = await ctx.session.create_message([message], max_tokens=50)
    content = result.content
    text = content.text if isinstance(content, types.TextContent) else str(content)
    return f"sampled: {text} ({result.model})"


@server.tool()
async def roots(ctx: Context) -> str:
    """List the client's roots."""
    result = await ctx.session.list_roots()
    return "roots: " + ", ".join(str(root.uri) for root in result.roots)


@server.tool()
async def two_questions(ctx: Context) -> str:
    """Two elicitations, one after the other: two input_required rounds for a 2026-07-28
    client."""
    first = await ctx.elicit("first?", Answer)
    second = await ctx.elicit("second?", Answer)
    answers = [r.data.answer if r.data is not None else r.action for r in (first, second)]
    return "answers: " + " then ".join(answers)


@server.tool()
async def ask_then_work(seconds: float, ctx: Context) -> str:
    """Elicit, then work `seconds` more."""
    result = await ctx.elicit("go?", Answer)
    await asyncio.sleep(seconds)
    return f"worked after {result.action}"


def _ask_answer() -> Elicit[Answer]:
    return Elicit("resolved?", Answer)


@server.tool()
async def resolved_confirm(answer: Annotated[Answer, Resolve(_ask_answer)]) -> str:
    """Elicit through the SDK's resolver (MRTR-native in 2026-07-28 sessions)."""
    return f"resolved: {answer.answer}"


if __name__ == "__main__":
    server.run("stdio")
