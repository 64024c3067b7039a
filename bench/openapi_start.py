"""Start time and peak memory of `toolwire openapi inspect` and `toolwire serve` for a large spec.

    python -m bench.openapi_start                 # GitHub's REST API description (the fixture)
    python -m bench.openapi_start --writes        # also expose POST/PUT/PATCH/DELETE
    python -m bench.openapi_start --spec FILE     # any other document

Each command runs as its own process: `inspect` until it exits, `serve` until `/healthz` answers
(the lifespan has built every service, the catalog included). Peak RSS is the kernel's high-water
mark for that process (`ru_maxrss` after `inspect` exits; `VmHWM` of the running `serve`). The
spec is decompressed to a temporary file first, so the times include reading and parsing it.
"""

from __future__ import annotations

import argparse
import contextlib
import lzma
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from toolwire.testing import TOOLWIRE, free_port

FIXTURE = Path(__file__).parents[1] / "tests" / "upstream" / "fixtures" / "github-api.json.xz"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def inspect(spec: Path, writes: bool) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of `toolwire openapi inspect SPEC --json`."""
    cmd = [TOOLWIRE, "openapi", "inspect", str(spec), "--json"]
    for method in WRITES if writes else ():
        cmd += ["--allow-method", method]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"inspect failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(spec: Path, writes: bool, data: Path) -> tuple[float, float, int]:
    """(seconds to /healthz, peak RSS in MB, tools listed) of `toolwire serve`."""
    entry: dict[str, object] = {"spec": str(spec), "base_url": "https://api.github.com"}
    if writes:
        entry["allow_methods"] = list(WRITES)
    config = data / "toolwire.yaml"
    config.write_text(yaml.safe_dump({"openapi": {"api": entry}}))
    port = free_port()
    env = {**os.environ, "TOOLWIRE_ADMIN_KEY": "tw_admin_bench_0123456789abcdef0123"}
    cmd = [TOOLWIRE, "serve", "--port", str(port), "--data-dir", str(data), "--config", str(config)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        return elapsed, vm_hwm_mb(proc.pid), int(ready.get("tools", 0))
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=FIXTURE)
    parser.add_argument("--writes", action="store_true", help="expose state-changing methods too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = args.spec
        if spec.suffix == ".xz":
            spec = Path(tmp) / spec.with_suffix("").name
            spec.write_bytes(lzma.decompress(args.spec.read_bytes()))
        size_mb = spec.stat().st_size / 1e6
        print(f"spec: {args.spec.name} ({size_mb:.1f} MB), writes exposed: {args.writes}")
        seconds, rss = inspect(spec, args.writes)
        print(f"openapi inspect   {seconds:6.2f} s   peak RSS {rss:6.0f} MB")
        seconds, rss, tools = serve(spec, args.writes, Path(tmp))
        print(f"serve (to ready)  {seconds:6.2f} s   peak RSS {rss:6.0f} MB   {tools} tools")


if __name__ == "__main__":
    main()
