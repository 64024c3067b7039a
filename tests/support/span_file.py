"""A `sitecustomize.py` that gives a gateway process the OpenTelemetry SDK's own `TracerProvider`
with a `SimpleSpanProcessor` and the SDK's `ConsoleSpanExporter` writing each finished span as
one JSON line to a file (`SPANS_ENV` names it): the way docs/observability.md tells operators to
configure a provider, so a test reads the spans a real `toolwire serve` process made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPANS_ENV = "TOOLWIRE_TEST_SPANS_FILE"

SITECUSTOMIZE = f'''
import os

if os.environ.get("{SPANS_ENV}"):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    _out = open(os.environ["{SPANS_ENV}"], "a", buffering=1, encoding="utf-8")
    _provider = TracerProvider()
    _provider.add_span_processor(
        SimpleSpanProcessor(
            ConsoleSpanExporter(out=_out, formatter=lambda s: s.to_json(indent=None) + "\\n")
        )
    )
    trace.set_tracer_provider(_provider)
'''


def install(directory: Path, spans: Path) -> dict[str, str]:
    """Write the `sitecustomize.py` into `directory`; the env a gateway needs to use it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return {"PYTHONPATH": str(directory), SPANS_ENV: str(spans), "TOOLWIRE_TRACING": "true"}


def read(spans: Path) -> list[dict[str, Any]]:
    """Every span the process has exported so far (one JSON object per line)."""
    if not spans.exists():
        return []
    return [json.loads(line) for line in spans.read_text("utf-8").splitlines() if line.strip()]
