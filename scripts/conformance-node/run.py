"""Run the official MCP conformance suite against a live toolwire (driven by `scripts/conformance`).

1. start `toolwire serve --profile conformance` in a temporary data directory and create an
   account with a key through the admin API;
2. restart it with `TOOLWIRE_MCP_ANONYMOUS_KEY` set to that key (the suite cannot send headers;
   see docs/design/mcp-conformance-auth.md);
3. run every scenario that applies to a tools server in the stable release, and the stateless,
   header and caching scenarios (plus the tool scenarios at 2026-07-28) in the newest pre-release;
4. print one line per scenario and exit non-zero if any failed.

Scenarios about resources, prompts, sampling, elicitation and completion are not run: a tools
gateway has none of them (docs/mcp.md lists them with the reason).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from toolwire.testing import start_gateway

HERE = Path(__file__).resolve().parent
NODE = HERE / "node_modules" / ".bin" / "node"
SUITES = {
    "stable": HERE / "node_modules" / "conformance-stable" / "dist" / "index.js",
    "next": HERE / "node_modules" / "conformance-next" / "dist" / "index.js",
}
STABLE = [
    "server-initialize",
    "logging-set-level",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
]
NEXT = [
    "server-stateless",
    "http-header-validation",
    "http-custom-header-server-validation",
    "caching",
    "server-session-lifecycle",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
]


def run_scenario(suite: str, scenario: str, url: str, out: Path) -> tuple[bool, str]:
    target = out / suite / scenario
    target.mkdir(parents=True, exist_ok=True)
    cmd = [str(NODE), str(SUITES[suite]), "server", "--url", url, "--scenario", scenario]
    cmd += ["-o", str(target)]
    env = {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    (target / "output.txt").write_text(done.stdout + done.stderr)
    counts = {"SUCCESS": 0, "FAILURE": 0, "WARNING": 0}
    for checks in target.rglob("checks.json"):
        for check in json.loads(checks.read_text()):
            status = str(check.get("status"))
            counts[status] = counts.get(status, 0) + 1
    passed = done.returncode == 0 and counts["FAILURE"] == 0
    summary = ", ".join(f"{k.lower()} {v}" for k, v in counts.items() if v)
    return passed, summary or "no checks"


def main() -> int:
    if not NODE.exists():
        print("node_modules missing: run scripts/conformance", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="toolwire-conformance-") as tmp:
        data = Path(tmp) / "data"
        out = Path(os.environ.get("CONFORMANCE_OUT", Path(tmp) / "results"))
        gateway = start_gateway(data, args=["--profile", "conformance"])
        try:
            _, key = gateway.create_account(credits=100, name="conformance")
        finally:
            gateway.stop()
        env = {"TOOLWIRE_MCP_ANONYMOUS_KEY": key}
        gateway = start_gateway(
            data, args=["--profile", "conformance"], env=env, admin_key=gateway.admin_key
        )
        failed = []
        started = time.monotonic()
        try:
            url = gateway.url + "/mcp"
            for suite, scenarios in (("stable", STABLE), ("next", NEXT)):
                for scenario in scenarios:
                    passed, summary = run_scenario(suite, scenario, url, out)
                    mark = "pass" if passed else "FAIL"
                    print(f"{mark}  {suite:6}  {scenario:40}  {summary}", flush=True)
                    if not passed:
                        failed.append(f"{suite}/{scenario}")
        finally:
            gateway.stop()
        print(
            f"{len(STABLE) + len(NEXT) - len(failed)} scenarios passed, {len(failed)} failed "
            f"in {time.monotonic() - started:.0f}s; results in {out}"
        )
        for name in failed:
            print(f"  failed: {name} (see {out / name / 'output.txt'})")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
