"""Pinning, the rug-pull defence: an upstream tool is served only while its definition is the one
an operator (or the upstream's policy) approved.

What it is: the neutral `UpstreamToolDefinition` any upstream kind reports (MCP servers, OpenAPI
imports), its hash (`definition_hash`: SHA-256 of canonical JSON, see `hashed_fields`), the
per-upstream `PinPolicy`, the `PinBook` port the store implements, and `PinGuard`, which the
gateway asks `held(op)` on every listing and call. Decisions are docs/design/pinning.md.

What it is not: storage (`toolwire.store.pins`) nor a door. The guard keeps an in-memory snapshot
of the approved hashes, so `held` is one dict look-up; `refresh` re-reads it from the database
(every instance polls, so an approval on one reaches all within `refresh_s`).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from toolwire.core.model import AuditEvent

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation
    from toolwire.core.ports import AuditSink

security_log = logging.getLogger("toolwire.security")

PIN_AUDIT_DOOR = "pins"
"""The `door` of pinning's security events in the audit log (not calls: usage leaves them out)."""

PinMode = Literal["pin", "auto", "off"]
FirstSight = Literal["approve", "hold"]
Verdict = Literal[
    "approved", "held", "first_sight_approved", "first_sight_held", "auto_accepted", "unpinned"
]


@dataclass(frozen=True, slots=True)
class UpstreamToolDefinition:
    """One tool as its upstream defines it, before any operator override: the upstream's name
    (as configured), the tool's own name there, and the MCP definition fields (JSON values)."""

    upstream: str
    tool: str
    description: str = ""
    title: str | None = None
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    output_schema: Mapping[str, Any] | None = None
    annotations: Mapping[str, Any] = field(default_factory=dict)
    icons: tuple[Mapping[str, Any], ...] = ()
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def digest(self) -> str:
        """`definition_hash(self)`, computed on first use and kept on this (immutable)
        definition: a pin check on every call and listing costs a look-up, not a hash."""
        if self._digest is None:
            object.__setattr__(self, "_digest", definition_hash(self))
        assert self._digest is not None
        return self._digest

    def hashed_fields(self) -> dict[str, Any]:
        """Exactly what the hash covers: name, title, description, input and output schema,
        annotations (MCP key names). Icons are not: they never reach a model."""
        return {
            "name": self.tool,
            "title": self.title,
            "description": self.description,
            "inputSchema": dict(self.input_schema),
            "outputSchema": None if self.output_schema is None else dict(self.output_schema),
            "annotations": dict(self.annotations),
        }

    @classmethod
    def from_mcp(cls, upstream: str, definition: Mapping[str, Any]) -> UpstreamToolDefinition:
        """A federated MCP tool's raw definition (`Tool` as the upstream sent it: name, title,
        description, inputSchema, outputSchema, annotations, icons) under `upstream`."""
        icons = definition.get("icons")
        return cls(
            upstream=upstream,
            tool=str(definition.get("name", "")),
            description=str(definition.get("description") or ""),
            title=definition.get("title"),
            input_schema=definition.get("inputSchema") or {},
            output_schema=definition.get("outputSchema"),
            annotations=definition.get("annotations") or {},
            icons=tuple(icons) if isinstance(icons, list) else (),
        )

    @classmethod
    def from_hashed(cls, upstream: str, data: Mapping[str, Any]) -> UpstreamToolDefinition:
        """The inverse of `hashed_fields`, for a definition read back from the store."""
        return cls(
            upstream=upstream,
            tool=str(data.get("name", "")),
            description=str(data.get("description") or ""),
            title=data.get("title"),
            input_schema=data.get("inputSchema") or {},
            output_schema=data.get("outputSchema"),
            annotations=data.get("annotations") or {},
        )


def canonical_json(data: Any) -> bytes:
    """JSON with sorted keys and no insignificant whitespace (orjson, UTF-8)."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def definition_hash(definition: UpstreamToolDefinition) -> str:
    """`sha256:<hex>` of the canonical JSON of `definition.hashed_fields()`."""
    return "sha256:" + hashlib.sha256(canonical_json(definition.hashed_fields())).hexdigest()


@dataclass(frozen=True, slots=True)
class PinPolicy:
    """An upstream's policy: `pin` (default: a changed definition is held until approved),
    `auto` (a change is accepted and logged), `off` (not pinned). `first_sight`: whether a tool
    never seen before is approved at once or held (always approved under `auto`)."""

    mode: PinMode = "pin"
    first_sight: FirstSight = "hold"


@dataclass(frozen=True, slots=True)
class PinRecord:
    """One (upstream, tool) pin as stored: the approved definition and a held candidate."""

    upstream: str
    tool: str
    approved_hash: str | None
    approved: Mapping[str, Any] | None
    candidate_hash: str | None
    candidate: Mapping[str, Any] | None
    approved_at: float | None = None
    seen_at: float | None = None

    @property
    def held(self) -> bool:
        return self.candidate_hash is not None and self.candidate_hash != self.approved_hash

    def to_dict(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "tool": self.tool,
            "state": "held" if self.held else "approved",
            "approved_hash": self.approved_hash,
            "candidate_hash": self.candidate_hash if self.held else None,
            "approved": self.approved,
            "candidate": self.candidate if self.held else None,
        }


class PinBook(Protocol):
    """Durable pins (`toolwire.store.pins.PinStore`), shared by every instance."""

    async def observe(
        self, definition: UpstreamToolDefinition, digest: str, policy: PinPolicy
    ) -> Verdict: ...

    async def approved_hashes(self) -> dict[tuple[str, str], str]: ...

    async def records(self, upstream: str | None = None) -> list[PinRecord]: ...

    async def approve(self, upstream: str, tool: str | None = None) -> list[PinRecord]: ...


Changed = Callable[[], Awaitable[None]]


class PinGuard:
    """The gateway's pin check over one snapshot of the approved hashes.

    `sync(catalog)` records what each pinned operation's upstream reports now (first sight,
    change) and logs and audits every security event; `refresh()` re-reads the approvals;
    `held(op)` says whether `op` must be hidden and refused."""

    def __init__(self, book: PinBook, audit: AuditSink, *, refresh_s: float = 2.0) -> None:
        self.book = book
        self.audit = audit
        self.refresh_s = refresh_s
        self._approved: dict[tuple[str, str], str] = {}

    @staticmethod
    def pinned(op: Operation) -> bool:
        return op.origin is not None and op.pin_policy.mode != "off"

    @staticmethod
    def digest(op: Operation) -> str:
        """The hash of `op`'s upstream definition (kept on the definition: hashed once)."""
        assert op.origin is not None
        return op.origin.digest

    def held(self, op: Operation) -> bool:
        """True when `op` comes from a pinned upstream and its definition is not the approved
        one (changed, or never approved)."""
        if op.origin is None or op.pin_policy.mode == "off":
            return False
        key = (op.origin.upstream, op.origin.tool)
        approved = self._approved.get(key)
        if approved is None and op.pin_policy.first_sight == "approve":
            return False  # trust on first use: approved on sight, before `sync` has recorded it
        return approved != self.digest(op)

    def counts(self, ops: Iterable[Operation]) -> dict[str, dict[str, int]]:
        """Per upstream: how many of its operations are pinned (approved) and held."""
        out: dict[str, dict[str, int]] = {}
        for op in ops:
            if op.origin is None or op.pin_policy.mode == "off":
                continue
            entry = out.setdefault(op.origin.upstream, {"pinned": 0, "held": 0})
            entry["held" if self.held(op) else "pinned"] += 1
        return out

    async def sync(self, ops: Iterable[Operation]) -> bool:
        """Record every pinned operation's current definition (first sight, change: logged and
        audited), then refresh the snapshot; True when the approvals changed."""
        for op in ops:
            if not self.pinned(op):
                continue
            assert op.origin is not None
            verdict = await self.book.observe(op.origin, self.digest(op), op.pin_policy)
            self._report(op, verdict)
        return await self.refresh()

    async def refresh(self) -> bool:
        """Re-read the approvals; True when they changed."""
        fresh = await self.book.approved_hashes()
        changed = fresh != self._approved
        self._approved = fresh
        return changed

    def _report(self, op: Operation, verdict: Verdict) -> None:
        assert op.origin is not None
        where = f"{op.origin.upstream}/{op.origin.tool}"
        if verdict in ("approved", "unpinned"):
            return
        if verdict == "first_sight_approved":
            security_log.info("pinned %s on first sight (%s)", where, self.digest(op))
            return
        if verdict == "auto_accepted":
            message = f"definition of {where} changed upstream; accepted (policy auto)"
            security_log.warning(message)
        elif verdict == "first_sight_held":
            message = f"new tool {where} held until approved (toolwire upstreams approve)"
            security_log.warning(message)
        else:
            message = (
                f"definition of {where} changed upstream; {op.qualified} is held until "
                f"approved (toolwire upstreams diff {op.origin.upstream})"
            )
            security_log.warning("SECURITY: %s", message)
        self.audit.record(
            AuditEvent(
                request_id=f"pin_{int(time.time() * 1000)}",
                at=time.time(),
                account_id=None,
                key_id=None,
                tool=op.tool,
                operation=op.name,
                door=PIN_AUDIT_DOOR,
                outcome={
                    "held": "PIN_HELD",
                    "first_sight_held": "PIN_FIRST_SIGHT_HELD",
                    "auto_accepted": "PIN_AUTO_ACCEPTED",
                }[verdict],
                credits_charged=0,
                latency_ms=0.0,
                message=message,
            )
        )


_WORD = re.compile(r"\s+|[^\s]+")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()


def word_diff(before: str, after: str) -> list[dict[str, str]]:
    """`before` -> `after` word by word (whitespace kept): runs of
    {"op": "equal" | "delete" | "insert", "text": ...} that rebuild both texts."""
    old, new = _WORD.findall(before), _WORD.findall(after)
    runs: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag in ("equal", "delete", "replace") and i2 > i1:
            runs.append(
                {"op": "equal" if tag == "equal" else "delete", "text": "".join(old[i1:i2])}
            )
        if tag in ("insert", "replace") and j2 > j1:
            runs.append({"op": "insert", "text": "".join(new[j1:j2])})
    return runs


def diff(record: PinRecord) -> list[dict[str, Any]]:
    """What changed from the approved definition to the held candidate, per hashed field:
    [{"field", "before", "after", "words": word_diff(...)}]; every field of a tool never
    approved; [] when nothing is held."""
    if not record.held or record.candidate is None:
        return []
    approved: Mapping[str, Any] = record.approved or {}
    changes = []
    for key in sorted(set(approved) | set(record.candidate)):
        before, after = approved.get(key), record.candidate.get(key)
        if before == after:
            continue
        old = "" if before is None else _text(before)
        new = "" if after is None else _text(after)
        changes.append(
            {"field": key, "before": before, "after": after, "words": word_diff(old, new)}
        )
    return changes
