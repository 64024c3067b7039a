"""Building the catalog's upstream tools from the config sections `upstreams`, `tools`, `openapi`
and `databases` (already checked against the schema).

What it is: the translation from YAML mappings to adapter objects — `UpstreamSpec`/`HttpUpstream`,
`HttpOperation` with an `ExpressionRequest`, OpenAPI `build_tool`, SQL `scope_tool` — with errors
that name the config location. Credentials are referenced by vault secret name only; no value is
read here. What it is not: the adapters' behaviour (`toolwire.upstream`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from toolwire.core.catalog import Annotations, OperationSpec, ToolSpec
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
    OpenAPIError,
    Override,
    Rule,
    build_tool,
)
from toolwire.upstream.openapi import load_document as load_openapi
from toolwire.upstream.openapi.budget import DEFAULT_MAX_SCHEMA_TOKENS
from toolwire.upstream.openapi.curation import annotations_for
from toolwire.upstream.sql import PostgresRunner, ScopeSpec, SqliteRunner, scope_tool
from toolwire.upstream.sql.guard import DEFAULT_MAX_BYTES
from toolwire.vault.redact import Redactor

if TYPE_CHECKING:
    from toolwire.config import CatalogConfig

_UPSTREAM_KEYS = (
    "base_url",
    "auth",
    "headers",
    "timeout",
    "retries",
    "max_response_bytes",
    "allow_private_networks",
    "allow_foreign_origins",
)


def upstream_tools(config: CatalogConfig, redactor: Redactor) -> list[ToolSpec]:
    from toolwire.config import ConfigError

    upstreams: dict[str, HttpUpstream] = {}
    for name, raw in config.upstreams.items():
        try:
            upstreams[name] = http_upstream(name, raw, redactor)
        except ValueError as exc:
            raise ConfigError.at(config.source, f"upstreams/{name}", str(exc)) from None
    tools: list[ToolSpec] = []
    for name, raw in config.tools.items():
        tools.append(http_tool(name, raw, upstreams, config.source))
    for name, raw in config.openapi.items():
        where = f"openapi/{name}"
        try:
            tool = openapi_tool(name, raw, upstreams, redactor, config.base_dir)
        except OpenAPIError as exc:
            raise ConfigError.at(config.source, where, f"{raw['spec']}: {exc}") from None
        except ValueError as exc:
            raise ConfigError.at(config.source, where, str(exc)) from None
        if tool is not None:
            tools.append(tool)
    for name, raw in config.databases.items():
        try:
            tools.append(database_tool(name, raw, config.base_dir))
        except ValueError as exc:
            raise ConfigError.at(config.source, f"databases/{name}", str(exc)) from None
    return tools


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
    )


def http_upstream(name: str, raw: Mapping[str, Any], redactor: Redactor) -> HttpUpstream:
    """Raises `ValueError` for an upstream with credentials but no origin to confine them to."""
    if raw.get("auth") is not None and not raw.get("base_url"):
        raise ValueError("an upstream with auth needs base_url: its credentials go only there")
    return HttpUpstream(upstream_spec(name, raw), redactor)


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
) -> ToolSpec | None:
    specs = {k: u.spec for k, u in upstreams.items()}
    document, spec = openapi_import(name, raw, specs, base_dir)
    if "upstream" in raw:
        upstream = upstreams[raw["upstream"]]
    else:
        if not spec.base_url:
            raise ValueError("the document has no servers; give base_url")
        upstream = HttpUpstream(spec, redactor)
    tool_name = raw.get("tool", name)
    tool, _ = build_tool(
        tool_name,
        raw.get("description", ""),
        raw.get("category", "api"),
        document,
        curation_from(raw),
        upstream,
        limits_from(raw),
    )
    return tool


def sqlite_path(url: str, base_dir: Path) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("a SQLite scope needs a database file")
    path = Path(database)
    return path if path.is_absolute() else base_dir / path


def database_tool(name: str, raw: Mapping[str, Any], base_dir: Path) -> ToolSpec:
    url: str = raw["url"]
    timeout = float(raw.get("statement_timeout", 5.0))
    tables = {t: (None if cols == "*" else tuple(cols)) for t, cols in raw["tables"].items()}
    credentials = {"password": raw["password_secret"]} if "password_secret" in raw else {}
    spec = ScopeSpec(
        name=name,
        tables=tables,
        description=raw.get("description", ""),
        functions=frozenset(raw.get("functions", ())),
        row_limit=int(raw.get("row_limit", 100)),
        timeout=timeout,
        max_response_bytes=int(raw.get("max_response_bytes", DEFAULT_MAX_BYTES)),
        credentials=credentials,
    )
    runner: SqliteRunner | PostgresRunner
    if url.startswith("sqlite"):
        runner = SqliteRunner(sqlite_path(url, base_dir), timeout)
    else:
        parsed = make_url(url).set(drivername="postgresql")
        if parsed.password:
            raise ValueError("put the database password in the vault (password_secret)")
        runner = PostgresRunner(parsed.render_as_string(hide_password=False), timeout)
    return scope_tool(spec, runner, category=raw.get("category", "data"))
