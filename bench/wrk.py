"""Drive an HTTP endpoint with wrk (a C load generator, so the client is not the bottleneck) and
read back p50, p99 and requests/s. Shared by every bench script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
%(headers)s
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.timeout
  io.write(string.format(
    "WRKJSON {\\"p50_us\\":%%d,\\"p99_us\\":%%d,\\"requests\\":%%d,\\"duration_us\\":%%d," ..
    "\\"errors\\":%%d,\\"non2xx\\":%%d}\\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    errors, summary.errors.status))
end
"""


@dataclass(frozen=True)
class Result:
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    errors: int


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("bench needs wrk (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)")
    return path


def run(
    url: str, body: str, headers: dict[str, str], *, connections: int, seconds: float
) -> Result:
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(LUA % {"body": body, "headers": header_lines})
        threads = 1 if connections == 1 else 2
        out = subprocess.run(
            [
                require_wrk(),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON ") :])
    duration_s = data["duration_us"] / 1e6
    return Result(
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        rps=data["requests"] / duration_s if duration_s else 0.0,
        requests=data["requests"],
        errors=data["errors"] + data["non2xx"],
    )


def compare(
    gateways: dict[str, Any], body: str, *, seconds: float, credits: float
) -> dict[str, dict[str, Any]]:
    """The same `POST /api/v1/execute` body against each named gateway (a `RunningGateway`), one
    account each, warmed up, then at 1 and 32 connections, interleaved: `"<name>@<c>"` -> the
    wrk result as a dict. What every A/B bench (priced vs free, limits on vs off) runs."""
    targets = {}
    for name, gw in gateways.items():
        _, key = gw.create_account(credits=credits, name=name)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        targets[name] = (f"{gw.url}/api/v1/execute", headers)
    for url, headers in targets.values():  # warm them up
        run(url, body, headers, connections=8, seconds=1)
    results: dict[str, dict[str, Any]] = {}
    for conns in (1, 32):
        for name, (url, headers) in targets.items():
            results[f"{name}@{conns}"] = run(
                url, body, headers, connections=conns, seconds=seconds
            ).__dict__
    return results
