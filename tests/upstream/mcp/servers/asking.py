"""A real MCP server (the official SDK's MCPServer, over stdio or Streamable HTTP) whose tools
ask their client something in the middle of a call: elicitation, sampling, roots, two questions
in a row, and one that asks then works a while (for the tool timeout that pauses while the
client answers).
`resolved_confirm` asks through the SDK's `Resolve`/`Elicit`, which a 2026-07-28 session turns
into an `input_required` result of the server's own (the others need a handshake-era session to
send their requests mid-call).

Prompts and resources ask too: the prompt `tone` and the resource template
`asking://vault/{name}` elicit mid-request (handshake-era session), the prompt `native_tone`
answers `input_required` itself and reads the answer from the retry (2026-07-28 session).

    python asking.py              # stdio
    python asking.py http PORT    # Streamable HTTP on 127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp_types import InputRequiredResult
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


@server.prompt()
async def tone(topic: str, ctx: Context) -> str:
    """A prompt about `topic` in the tone the user chooses (elicitation, mid-request)."""
    result = await ctx.elicit(f"which tone for {topic}?", Answer)
    if result.action == "accept" and result.data is not None:
        return f"Write about {topic} in a {result.data.answer} tone."
    return f"no answer: {result.action}"


@server.resource("asking://vault/{name}")
async def vault(name: str, ctx: Context) -> str:
    """A resource whose read asks the user for a passphrase first (elicitation, mid-request)."""
    result = await ctx.elicit(f"passphrase for {name}?", Answer)
    if result.action == "accept" and result.data is not None:
        if result.data.answer == "wrong":
            raise ValueError(f"wrong passphrase for {name}")
        return f"{name} opened with {result.data.answer}"
    return f"{name} stays shut: {result.action}"


@server.prompt()
async def native_tone(ctx: Context) -> str | InputRequiredResult:
    """2026-07-28 only: answers `input_required` itself, then the retry carries the answer."""
    answer = (ctx.input_responses or {}).get("tone")
    if isinstance(answer, types.ElicitResult) and answer.content:
        return f"Write in a {answer.content.get('answer')} tone."
    question = types.ElicitRequestFormParams(
        message="which tone?", requested_schema=Answer.model_json_schema()
    )
    return InputRequiredResult(input_requests={"tone": types.ElicitRequest(params=question)})


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:  # Streamable HTTP on 127.0.0.1:PORT (2026-07-28, stateless)
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=True)
    else:
        server.run("stdio")
