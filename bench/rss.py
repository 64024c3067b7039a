"""Idle memory of one gateway process: `toolwire serve` started as users start it (default
config, SQLite), its VmRSS from /proc/PID/status after it answers /healthz and settles: at the
very first start (which creates the schema) and at a restart on the same data directory, then
after one REST call (a call loads nothing heavy either).

    python -m bench.rss [--settle 2] [--json]
    PYTHONPATH=/path/to/other/checkout python -m bench.rss   # the other side of an A/B

Target (issue 14): idle RSS of one process <= 100 MB. Memory, not time: not noisy like the
throughput benches, but it depends on the installed packages' versions.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from toolwire.testing import running_gateway

TARGET_MB = 100.0


def vm_rss_mb(pid: int) -> float:
    """VmRSS of `pid` in MB (MiB), from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for {pid}")


def run(settle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with running_gateway(Path(tmp)) as first:  # the first start creates the schema
            time.sleep(settle)
            first_start = vm_rss_mb(first.process.pid)
        result = restarted(Path(tmp), settle, first.admin_key)
        return {"first_start_idle_rss_mb": round(first_start, 1), **result}


def restarted(data_dir: Path, settle: float, admin_key: str) -> dict[str, float]:
    """A restart on the same data directory: what a gateway runs as, almost always."""
    with running_gateway(data_dir, admin_key=admin_key) as gw:
        time.sleep(settle)
        idle = vm_rss_mb(gw.process.pid)
        _, key = gw.create_account(credits=10)
        httpx.post(
            f"{gw.url}/api/v1/execute",
            json={"tool": "echo", "input": {"message": "hi"}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).raise_for_status()
        time.sleep(0.5)
        return {
            "idle_rss_mb": round(idle, 1),
            "after_call_rss_mb": round(vm_rss_mb(gw.process.pid), 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {**run(args.settle), "target_mb": TARGET_MB}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"idle RSS {result['idle_rss_mb']} MB (first start: {result['first_start_idle_rss_mb']}"
            f" MB), after one call {result['after_call_rss_mb']} MB (target <= {TARGET_MB:g} MB)"
        )


if __name__ == "__main__":
    main()
