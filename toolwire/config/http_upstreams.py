"""Building the catalog's HTTP tools from the config sections `upstreams`, `tools` and `openapi`
(already checked against the schema): `UpstreamSpec`/`HttpUpstream`, `HttpOperation` with an
`ExpressionRequest`, and OpenAPI imports (`build_tool`), with errors that name the config location.

Imported by `toolwire.config.upstreams` only when a catalog declares one of these kinds (and by
`toolwire openapi inspect`): the HTTP stack is megabytes an idle gateway without HTTP upstreams does
not load (docs/design/lazy-loading.md). Credentials are referenced by vault secret name only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolwire.config.upstreams import pin_policy
from toolwire.core.catalog import Annotations, OperationSpec, ToolSpec
from toolwire.upstream.health import HealthPolicy, HealthRegistry
from toolwire.upstream.http import (
    AuthSpec,
    ExpressionRequest,
    HttpOperation,
    HttpUpstream,
    Retries,
    UpstreamSpec,
    compile_expression,
)
from toolwire.upstream.openapi import (
    Curation,
    Document,
    Limits,
    Override,
    Rule,
    build_tool,
)
from toolwire.upstream.openapi import load_document as load_openapi
from toolwire.upstream.openapi.budget import DEFAULT_MAX_SCHEMA_TOKENS
from toolwire.upstream.openapi.curation import annotations_for
from toolwire.vault.redact import Redactor

_UPSTREAM_KEYS = (
    "base_url",
    "auth",
    "headers",
    "timeout",
    "retries",
    "max_response_bytes",
    "allow_private_networks",
    "allow_foreign_origins",
    "health",
)


def auth_spec(raw: Mapping[str, Any] | None) -> AuthSpec | None:
    if raw is None:
        return None
    fields = dict(raw)
    fields["scopes"] = tuple(fields.get("scopes", ()))
    fields["extra"] = dict(fields.get("extra", {}))
    return AuthSpec(**fields)


def upstream_spec(name: str, raw: Mapping[str, Any]) -> UpstreamSpec:
    retries = raw.get("retries", {})
    return UpstreamSpec(
        name=name,
        base_url=raw.get("base_url", ""),
        auth=auth_spec(raw.get("auth")),
        headers=dict(raw.get("headers", {})),
        timeout=float(raw.get("timeout", 30.0)),
        retries=Retries(int(retries.get("attempts", 1)), float(retries.get("backoff", 0.2))),
        max_response_bytes=int(raw.get("max_response_bytes", 5 * 1024 * 1024)),
        allow_private_networks=bool(raw.get("allow_private_networks", False)),
        allow_foreign_origins=tuple(raw.get("allow_foreign_origins", ())),
        health=HealthPolicy.from_config(raw.get("health")),
    )


def http_upstream(
    name: str, raw: Mapping[str, Any], redactor: Redactor, health: HealthRegistry | None = None
) -> HttpUpstream:
    """Raises `ValueError` for an upstream with credentials but no origin to confine them to."""
    if raw.get("auth") is not None and not raw.get("base_url"):
        raise ValueError("an upstream with auth needs base_url: its credentials go only there")
    spec = upstream_spec(name, raw)
    registry = health or HealthRegistry()
    return HttpUpstream(spec, redactor, registry.for_upstream(name, "http", spec.health))


def http_tool(
    name: str, raw: Mapping[str, Any], upstreams: Mapping[str, HttpUpstream], source: str
) -> ToolSpec:
    from toolwire.config import ConfigError

    ops: list[OperationSpec] = []
    for op_name, op in raw["operations"].items():
        at = f"tools/{name}/operations/{op_name}"
        upstream = upstreams.get(op["upstream"])
        if upstream is None:
            raise ConfigError.at(source, at, f"unknown upstream {op['upstream']!r}")
        method = op.get("method", "GET")
        url = op.get("url") or op.get("path") or ""
        if not url.startswith(("http://", "https://", "{")) and not upstream.spec.base_url:
            raise ConfigError.at(
                source, at, f"upstream {op['upstream']!r} has no base_url for a path"
            )
        try:
            request = ExpressionRequest(
                method,
                url,
                query=compile_expression(op.get("query"), "query"),
                headers=compile_expression(op.get("headers"), "headers"),
                body=compile_expression(op.get("body"), "body"),
            )
            adapter = HttpOperation(
                upstream,
                request,
                response=compile_expression(op.get("response"), "response"),
                response_envelope=bool(op.get("response_envelope", False)),
                error_message=compile_expression(op.get("error_message"), "error_message"),
                idempotent=op.get("idempotent"),
            )
        except ValueError as exc:
            raise ConfigError.at(source, at, str(exc)) from None
        ops.append(
            OperationSpec(
                name=op_name,
                description=op["description"],
                input_schema=op["input_schema"],
                output_schema=op.get("output_schema"),
                adapter=adapter,
                annotations=_annotations(method, op.get("title"), op.get("annotations", {})),
                title=op.get("title"),
                credentials=upstream.credentials,
                upstream=op["upstream"],
            )
        )
    return ToolSpec(name, raw["description"], tuple(ops), category=raw.get("category", "general"))


def _annotations(method: str, title: str | None, given: Mapping[str, bool]) -> Annotations:
    base = annotations_for(method, title)
    return Annotations(
        title=title,
        read_only=given.get("read_only", base.read_only),
        destructive=given.get("destructive", base.destructive),
        idempotent=given.get("idempotent", base.idempotent),
        open_world=given.get("open_world", base.open_world),
    )


def _rules(raw: Any) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    return tuple(
        Rule(
            tags=tuple(r.get("tags", ())),
            operations=tuple(r.get("operations", ())),
            paths=tuple(r.get("paths", ())),
            methods=tuple(m.upper() for m in r.get("methods", ())),
        )
        for r in items
    )


def curation_from(raw: Mapping[str, Any]) -> Curation:
    return Curation(
        include=_rules(raw.get("include")),
        exclude=_rules(raw.get("exclude")),
        allow_methods=frozenset(m.upper() for m in raw.get("allow_methods", ())),
        include_deprecated=bool(raw.get("include_deprecated", False)),
        overrides={k: Override(**v) for k, v in (raw.get("operations") or {}).items()},
    )


def limits_from(raw: Mapping[str, Any]) -> Limits:
    return Limits(
        max_schema_tokens=int(raw.get("max_schema_tokens", DEFAULT_MAX_SCHEMA_TOKENS)),
        oversize=str(raw.get("oversize", "slim")),
    )


def openapi_import(
    name: str, raw: Mapping[str, Any], upstreams: Mapping[str, UpstreamSpec], base_dir: Path
) -> tuple[Document, UpstreamSpec]:
    """An `openapi:` entry's document (fetched once, under its upstream's SSRF setting) and the
    upstream it calls (a named one, or the entry's own settings with the document's first server
    as `base_url`). Shared by the catalog and `toolwire openapi inspect`, so both decide alike."""
    named = raw.get("upstream")
    if named is not None and named not in upstreams:
        raise ValueError(f"unknown upstream {named!r}")
    private = (
        upstreams[named].allow_private_networks
        if named is not None
        else bool(raw.get("allow_private_networks", False))
    )
    document = load_openapi(raw["spec"], base_dir, allow_private_networks=private)
    if named is not None:
        return document, upstreams[named]
    inline = {k: raw[k] for k in _UPSTREAM_KEYS if k in raw}
    inline.setdefault("base_url", document.server_url() or "")
    return document, upstream_spec(name, inline)


def openapi_tool(
    name: str,
    raw: Mapping[str, Any],
    upstreams: Mapping[str, HttpUpstream],
    redactor: Redactor,
    base_dir: Path,
    health: HealthRegistry | None = None,
) -> ToolSpec | None:
    specs = {k: u.spec for k, u in upstreams.items()}
    document, spec = openapi_import(name, raw, specs, base_dir)
    if "upstream" in raw:
        upstream = upstreams[raw["upstream"]]
    else:
        if not spec.base_url:
            raise ValueError("the document has no servers; give base_url")
        registry = health or HealthRegistry()
        upstream = HttpUpstream(
            spec, redactor, registry.for_upstream(spec.name, "openapi", spec.health)
        )
    tool_name = raw.get("tool", name)
    tool, _ = build_tool(
        tool_name,
        raw.get("description", ""),
        raw.get("category", "api"),
        document,
        curation_from(raw),
        upstream,
        limits_from(raw),
        pin_policy(raw.get("pinning"), default="off"),
    )
    return tool
