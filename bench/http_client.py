"""The outbound HTTP client alone, in process: CPU per request of an upstream's client
(`toolwire.upstream.net.make_client`, the one every HTTP, OpenAPI and GraphQL tool uses) posting
JSON to the echo of `bench.baseline` on loopback, at concurrency 1 and 32, on uvloop.

    python -m bench.http_client [--requests 4000] [--json]

CPU per request is this process's `time.process_time()` over the loop divided by the requests
(the echo server is another process, not counted). To compare implementations of the client in
one run, put each tree's `toolwire` first on PYTHONPATH (docs/benchmarks.md shows how).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import uvloop

from bench.servers import baseline_server
from toolwire.upstream.net import make_client

BODY = {"message": "hello"}


async def _loop(url: str, requests: int, concurrency: int) -> dict[str, float]:
    client = make_client(timeout=10, allow_private_networks=True)
    async with client:
        for _ in range(concurrency):  # warm: one connection per concurrent caller
            (await client.post(url, json=BODY)).raise_for_status()
        per_worker = requests // concurrency

        async def worker() -> None:
            for _ in range(per_worker):
                response = await client.post(url, json=BODY)
                response.raise_for_status()

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_worker * concurrency
    return {"cpu_ms_per_request": 1000 * cpu / done, "requests_per_s": done / wall}


def measure(requests: int) -> dict[str, Any]:
    with baseline_server() as base:
        url = f"{base}/echo"
        return {f"c={c}": uvloop.run(_loop(url, requests, c)) for c in (1, 32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results = measure(args.requests)
    if args.json:
        print(json.dumps({"load": load, "runs": results}))
        return
    print(f"load {load:.1f}")
    for name, r in results.items():
        print(
            f"{name}: {r['cpu_ms_per_request']:.3f} ms CPU/request, {r['requests_per_s']:.0f} req/s"
        )


if __name__ == "__main__":
    main()
