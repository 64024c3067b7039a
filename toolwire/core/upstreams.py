"""The upstreams table: one row per upstream, from the catalog, the health registry and pins.

What `toolwire upstreams list`, `GET /admin/v1/upstreams` and the `/readyz` detail show: name,
kind (transport), breaker state, tools, pinned and held counts, processes where known, last
error, p50 latency. What it is not: the health logic (`toolwire.upstream.health`) nor the pins
(`toolwire.core.pins`); both reach here through the small ports below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from toolwire.core.catalog import Operation


class HealthReport(Protocol):
    """This process's health per upstream (`toolwire.upstream.health.HealthRegistry`): each a
    mapping with at least name, kind, state, last_error, p50_ms (and processes where known)."""

    def snapshot(self) -> list[dict[str, Any]]: ...


class PinCounts(Protocol):
    """Pinned and held operations per upstream (`toolwire.core.pins.PinGuard`)."""

    def counts(self, ops: Iterable[Operation]) -> dict[str, dict[str, int]]: ...


def upstream_rows(
    ops: Iterable[Operation], health: HealthReport | None, pins: PinCounts | None
) -> list[dict[str, Any]]:
    """Every upstream a catalog operation reaches or the health registry knows, by name."""
    ops = list(ops)
    tools: dict[str, int] = {}
    for op in ops:
        if op.upstream is not None:
            tools[op.upstream] = tools.get(op.upstream, 0) + 1
    states: Mapping[str, dict[str, Any]] = {
        h["name"]: h for h in (health.snapshot() if health is not None else [])
    }
    counts = pins.counts(ops) if pins is not None else {}
    rows = []
    for name in sorted(set(tools) | set(states) | set(counts)):
        state = states.get(name, {})
        pinned = counts.get(name, {})
        rows.append(
            {
                "name": name,
                "kind": state.get("kind"),
                "state": state.get("state", "unknown"),
                "tools": tools.get(name, 0),
                "pinned": pinned.get("pinned", 0),
                "held": pinned.get("held", 0),
                "processes": state.get("processes"),
                "in_flight": state.get("in_flight", 0),
                "last_error": state.get("last_error"),
                "p50_ms": state.get("p50_ms"),
            }
        )
    return rows
