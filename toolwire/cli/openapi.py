"""`toolwire openapi inspect SPEC`: what an OpenAPI import would expose, and what it hides and why.

SPEC is a file or an http(s) URL; curation comes from flags, or, with `--config`, from the catalog's
`openapi:` entry of that name (then SPEC is the entry's name). Nothing is enabled by inspecting.
What this is not: the import itself (`toolwire.upstream.openapi`), which uses the same plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from toolwire.cli.admin import print_json
from toolwire.cli.common import ConfigFile, JsonOut, console, fail

openapi_app = typer.Typer(
    help="Inspect OpenAPI documents before importing them.", no_args_is_help=True
)

Repeated = list[str] | None


def register(app: typer.Typer) -> None:
    app.add_typer(openapi_app, name="openapi")


def _from_flags(
    tags: Repeated, operations: Repeated, paths: Repeated, methods: Repeated
) -> dict[str, Any] | None:
    rule = {
        k: v
        for k, v in (
            ("tags", tags),
            ("operations", operations),
            ("paths", paths),
            ("methods", methods),
        )
        if v
    }
    return rule or None


@openapi_app.command("inspect")
def inspect(
    spec: Annotated[str, typer.Argument(help="File, URL, or (with --config) an import's name.")],
    tag: Annotated[
        Repeated, typer.Option("--tag", help="Include only this tag (repeatable).")
    ] = None,
    operation: Annotated[
        Repeated, typer.Option("--operation", help="Include operationIds matching this glob.")
    ] = None,
    path: Annotated[
        Repeated, typer.Option("--path", help="Include paths matching this glob.")
    ] = None,
    exclude_tag: Annotated[
        Repeated, typer.Option("--exclude-tag", help="Exclude this tag.")
    ] = None,
    exclude_operation: Annotated[
        Repeated, typer.Option("--exclude-operation", help="Exclude operationIds matching glob.")
    ] = None,
    allow_method: Annotated[
        Repeated, typer.Option("--allow-method", help="Expose this state-changing method.")
    ] = None,
    include_deprecated: Annotated[bool, typer.Option("--include-deprecated")] = False,
    max_schema_tokens: Annotated[
        int | None,
        typer.Option(help="Schema budget per operation, in estimated tokens (default 10000)."),
    ] = None,
    oversize: Annotated[
        str | None, typer.Option(help="Over the budget: slim (default) or hide.")
    ] = None,
    allow_private_networks: Annotated[
        bool, typer.Option(help="Let a SPEC URL be fetched from a private address.")
    ] = False,
    config: ConfigFile = None,
    as_json: JsonOut = False,
) -> None:
    """Print every operation of SPEC: the tool operation it becomes, or why it stays hidden."""
    from toolwire.config import ConfigError, load_config
    from toolwire.config.http_upstreams import (
        curation_from,
        limits_from,
        openapi_import,
        upstream_spec,
    )
    from toolwire.upstream.openapi import OpenAPIError, Owned, plan

    raw: dict[str, Any]
    base = Path.cwd()
    upstreams = {}
    if config is not None:
        try:
            catalog = load_config(config)
        except ConfigError as exc:
            raise fail(escape(str(exc))) from None
        if spec not in catalog.openapi:
            raise fail(escape(f"{config} has no openapi entry named {spec!r}"))
        raw = dict(catalog.openapi[spec])
        base = catalog.base_dir
        upstreams = {k: upstream_spec(k, v) for k, v in catalog.upstreams.items()}
    else:
        raw = {
            "spec": spec,
            "include": _from_flags(tag, operation, path, None),
            "exclude": _from_flags(exclude_tag, exclude_operation, None, None),
            "allow_methods": allow_method or [],
            "include_deprecated": include_deprecated,
            "allow_private_networks": allow_private_networks,
        }
    for key, value in (("max_schema_tokens", max_schema_tokens), ("oversize", oversize)):
        if value is not None:
            raw[key] = value
    try:
        document, upstream = openapi_import(spec, raw, upstreams, base)
    except OpenAPIError as exc:
        raise fail(escape(f"{raw['spec']}: {exc}")) from None
    except ValueError as exc:
        raise fail(escape(str(exc))) from None
    planned = plan(document, curation_from(raw), owned=Owned.of(upstream), limits=limits_from(raw))
    exposed = sum(1 for p in planned if p.exposed)
    if as_json:
        print_json(
            {
                "spec": raw["spec"],
                "title": document.title,
                "openapi": document.version,
                "exposed": exposed,
                "hidden": len(planned) - exposed,
                "operations": [
                    {
                        "operation_id": p.operation_id,
                        "method": p.method,
                        "path": p.path,
                        "name": p.name,
                        "exposed": p.exposed,
                        "reason": p.reason or None,
                        "annotations": p.annotations.to_mcp(),
                        "schema_tokens": p.schema_tokens if p.exposed else None,
                        "slimmed": p.slimmed,
                        "ignored_parameters": p.ignored,
                    }
                    for p in planned
                ],
            }
        )
        return
    title = f"{document.title or raw['spec']} (OpenAPI {document.version}): "
    table = Table(title=title + f"{exposed} exposed, {len(planned) - exposed} hidden")
    for column in ("operationId", "method", "path", "as", "~tokens", "status"):
        table.add_column(column, no_wrap=column in ("method", "as"), overflow="fold")
    for p in planned:
        status = "[green]exposed[/]" if p.exposed else f"[yellow]hidden[/]: {escape(p.reason)}"
        if p.exposed and p.slimmed:
            status += " (schema slimmed to the budget)"
        if p.ignored:
            status += "; ignored: " + escape("; ".join(p.ignored))
        tokens = str(p.schema_tokens) if p.schema_tokens else ""
        table.add_row(escape(p.operation_id), p.method, escape(p.path), p.name, tokens, status)
    console.print(table)
