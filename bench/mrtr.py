"""What parking a 2026-07-28 tool call for one `input_required` round costs toolwire, in process.

    python -m bench.mrtr [--calls 2000] [--rounds 5]

Two ways to run one tool call that asks its client one question, with the same handler and
the client answering at once:

- `direct`: the tool's question answered in place (what a handshake-era client costs the
  door, less its network round trip);
- `parked`: through `Rounds` as a 2026-07-28 client's call is: a task for the call, the
  `input_required` result with a sealed `requestState`, the retry unsealing and checking it,
  the answer handed to the waiting request, the final result.

Run in alternating rounds (direct, parked, direct, ...) in one process; prints the median
CPU microseconds per call of each (`time.process_time`, so waiting for a busy machine is not
counted), the extra per parked call, the memory one parked call holds
while it waits (tracemalloc), and the load average. No HTTP, no gateway, no upstream: the
bridge's own cost, which is what a parked call adds to the two HTTP requests it takes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import tracemalloc
from collections.abc import Mapping
from typing import Any

from toolwire.core.model import Principal
from toolwire.core.ports import Channel
from toolwire.core.scopes import ScopeSet
from toolwire.inbound.mcp.handlers import CallChannel, Context
from toolwire.inbound.mcp.round_state import RoundSealer, Subject
from toolwire.inbound.mcp.rounds import Rounds

PRINCIPAL = Principal(key_id="k", account_id="a", scopes=ScopeSet(("*",)))
ARGS = {"question": "proceed?"}
PARAMS = {"name": "ask.confirm", "arguments": ARGS}
SUBJECT = Subject("tools/call", "ask.confirm", ARGS)
ANSWER = {"action": "accept", "content": {"answer": "yes"}}


class Answering:
    """A channel whose client answers at once (the `direct` way)."""

    client_capabilities: Mapping[str, Any] = {"elicitation": {}}

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        return None

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        return None

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return ANSWER


async def tool(channel: Channel) -> dict[str, Any]:
    """The handler: ask once, answer with what came back."""
    answer = await channel.request("elicitation/create", {"message": "proceed?"})
    return {"content": [{"type": "text", "text": str(answer["content"])}]}


def context() -> Context:
    return Context(
        principal=PRINCIPAL,
        version="2026-07-28",
        era="modern",
        request_id="req",
        client_capabilities={"elicitation": {}},
    )


async def direct(n: int) -> float:
    channel = Answering()
    started = time.process_time()
    for _ in range(n):
        await tool(channel)
    return (time.process_time() - started) / n * 1e6


async def parked(rounds: Rounds, n: int) -> float:
    ctx = context()
    started = time.process_time()
    for _ in range(n):
        first = await rounds.call(ctx, SUBJECT, PARAMS, CallChannel(ctx, None), tool)
        (key,) = first["inputRequests"]
        retry = {**PARAMS, "inputResponses": {key: ANSWER}, "requestState": first["requestState"]}
        await rounds.call(ctx, SUBJECT, retry, CallChannel(ctx, None), tool)
    return (time.process_time() - started) / n * 1e6


async def held_bytes(rounds: Rounds, n: int) -> float:
    """Memory held per call while `n` calls wait for their client."""
    ctx = context()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(n):
        await rounds.call(ctx, SUBJECT, PARAMS, CallChannel(ctx, None), tool)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    await rounds.aclose()
    await asyncio.sleep(0)
    return grown / n


async def main(calls: int, rounds_n: int) -> None:
    rounds = Rounds(RoundSealer(os.urandom(32)), CallChannel, input_timeout=60)
    figures: dict[str, list[float]] = {"direct": [], "parked": []}
    await direct(100)
    await parked(rounds, 100)  # warm up
    for _ in range(rounds_n):
        figures["direct"].append(await direct(calls))
        figures["parked"].append(await parked(rounds, calls))
    assert rounds.parked == 0
    held = await held_bytes(Rounds(RoundSealer(os.urandom(32)), CallChannel), 1000)
    d, p = statistics.median(figures["direct"]), statistics.median(figures["parked"])
    print(f"direct  {d:8.1f} us/call   (median of {rounds_n} rounds of {calls})")
    print(f"parked  {p:8.1f} us/call")
    print(f"extra per parked call: {p - d:.1f} us CPU in process, {held / 1024:.1f} KiB held")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.calls, options.rounds))
