"""An upstream's `tools/list` as catalog operations: chosen, renamed where needed, checked.

    specs, skipped = operations(spec, raw_tools, adapter)

Each upstream is one catalog tool named like the upstream; each of its tools one operation, so
clients see `<upstream>.<tool>` (MCP) and `<upstream>__<tool>` (OpenAI, Anthropic, Gemini). A
tool name that is not a valid operation name (`core.names`: a letter first, letters, digits, `_`
and `-`, at most 30 characters, no `__`) is spelled validly (`local_name`), deterministically,
and the upstream's own name is kept in `OperationSpec.definition["name"]`, which is what a call
sends: the mapping is reversible by look-up. A tool whose name, spelled, collides with another's,
whose input schema does not compile, or whose output schema is not an object schema, is skipped
and the reason logged. Include/exclude globs match the upstream's own names.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from toolwire.core import names
from toolwire.core.catalog import Annotations, OperationSpec, check_input_schema
from toolwire.core.ports import Adapter
from toolwire.upstream.mcp.spec import McpSpec

log = logging.getLogger("toolwire.upstream.mcp")

_INVALID = re.compile(r"[^a-zA-Z0-9_-]+")
MAX_DESCRIPTION = 8192
"""Characters of an upstream tool description kept (the rest is cut and marked)."""


def local_name(raw: str) -> str:
    """A valid operation name for the upstream tool name `raw`: `raw` itself when valid, else
    invalid characters become `-`, `__` becomes `_`, a leading non-letter gets `t-`, and a name
    still over 30 characters is cut and ends with 6 hex digits of a hash of `raw`."""
    try:
        names.check_part(raw, "tool")
        return raw
    except ValueError:
        pass
    name = _INVALID.sub("-", raw)
    while "__" in name:
        name = name.replace("__", "_")
    name = name.rstrip("_") or "tool"
    if not name[0].isalpha():
        name = "t-" + name
    if len(name) > 30:
        digest = hashlib.blake2b(raw.encode(), digest_size=3).hexdigest()
        name = name[:23].rstrip("_") + "-" + digest
    return name


def _annotations(raw: Mapping[str, Any] | None, title: str | None) -> Annotations:
    given = raw or {}

    def flag(key: str) -> bool | None:
        value = given.get(key)
        return value if isinstance(value, bool) else None

    return Annotations(
        title=given.get("title") if isinstance(given.get("title"), str) else title,
        read_only=flag("readOnlyHint"),
        destructive=flag("destructiveHint"),
        idempotent=flag("idempotentHint"),
        open_world=flag("openWorldHint"),
    )


def _description(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION] + " [cut]"


def operations(
    spec: McpSpec, raw_tools: Iterable[Mapping[str, Any]], adapter: Adapter
) -> tuple[list[OperationSpec], list[str]]:
    """The operations to serve, and one line per skipped tool (also logged)."""
    rules = spec.tools
    chosen: list[OperationSpec] = []
    skipped: list[str] = []
    taken: dict[str, str] = {}

    def skip(name: str, why: str) -> None:
        line = f"{spec.name}: tool {name!r} skipped: {why}"
        log.warning("MCP upstream %s", line)
        skipped.append(line)

    for count, raw in enumerate(raw_tools):
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            skip(str(name), "it has no name")
            continue
        if count >= spec.limits.max_tools:
            skip(name, f"over the limit of {spec.limits.max_tools} tools per upstream")
            continue
        if not rules.chosen(name):
            continue
        local = local_name(name)
        if local in taken:
            skip(name, f"its name spelled for every format ({local!r}) is {taken[local]!r}'s")
            continue
        try:
            schema = check_input_schema(raw.get("inputSchema") or {})
        except ValueError as exc:
            skip(name, f"its input schema is invalid: {exc}")
            continue
        output = raw.get("outputSchema")
        if output is not None and (not isinstance(output, dict) or output.get("type") != "object"):
            skip(name, "its output schema is not an object schema")
            continue
        rule = rules.per_tool.get(name)
        title = raw.get("title") if isinstance(raw.get("title"), str) else None
        taken[local] = name
        chosen.append(
            OperationSpec(
                name=local,
                description=(rule and rule.description) or _description(raw.get("description")),
                input_schema=schema,
                output_schema=output,
                adapter=adapter,
                annotations=_annotations(raw.get("annotations"), title),
                price=rule.price if rule and rule.price is not None else rules.price,
                byok_fee=rule.byok_fee if rule and rule.byok_fee is not None else rules.byok_fee,
                timeout=(rule.timeout if rule and rule.timeout is not None else rules.timeout),
                title=title,
                credentials=spec.credentials,
                definition=dict(raw),
                category=rule.category if rule else None,
                pin_policy=spec.pin_policy,
            )
        )
    return chosen, skipped
