"""Reading an OpenAPI document: load (file or URL, JSON or YAML), check its shape, resolve `$ref`s.

What it is: `load_document(source)` -> `Document`, which names every problem by its location in
the document (``paths./pets/{id}.get.parameters[0]: ...``) instead of failing later on a missing
key; `Document.deref(node, where)` follows a parameter's or a body's local `$ref`s (``#/...``);
schemas keep theirs (`schemas.py`). OpenAPI 3.0 and 3.1 only. What it is not: a full validator
of the specification (only what the import relies on is checked) nor the curation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import yaml

from toolwire.upstream.openapi.fetch import FetchError, fetch_spec

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAM_LOCATIONS = ("path", "query", "header", "cookie")
MAX_REF_DEPTH = 64
DATA_KEYS = frozenset({"$ref", "example", "enum", "default", "const"})
"""Keys whose values are data, not document structure: a `$ref` inside them is not a reference."""
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (about 4x faster on large specs)."""


class OpenAPIError(ValueError):
    """The document is unreadable or invalid; the message starts with where."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Document:
    raw: Mapping[str, Any]
    source: str
    version: str

    @property
    def is_31(self) -> bool:
        return self.version.startswith("3.1")

    @property
    def title(self) -> str:
        return str(self.raw.get("info", {}).get("title", ""))

    def server_url(self) -> str | None:
        """The first server's URL with its variables at their defaults, made absolute against
        the document's own URL when it was fetched from one."""
        servers = self.raw.get("servers") or []
        if not servers:
            return None
        server = servers[0]
        url = str(server.get("url", ""))
        for name, var in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(var.get("default", "")))
        if self.source.startswith(("http://", "https://")):
            url = urljoin(self.source, url)
        return url or None

    def lookup(self, ref: str, where: str) -> Any:
        if not ref.startswith("#/"):
            raise OpenAPIError(where, f"only local $refs (#/...) are supported, got {ref!r}")
        node: Any = self.raw
        for part in ref[2:].split("/"):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise OpenAPIError(where, f"$ref {ref!r} points to nothing")
        return node

    def deref(self, node: Any, where: str) -> Any:
        """`node` itself, or, when it is a `$ref` object, what the chain of references ends at
        (a parameter, a request body...). Only the top is followed; schemas inside keep their
        references (see `schemas.SchemaSet`). A chain longer than `MAX_REF_DEPTH` or one that
        comes back on itself raises `OpenAPIError` naming `where`."""
        seen: list[str] = []
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen or len(seen) >= MAX_REF_DEPTH:
                raise OpenAPIError(where, f"$ref chain {' -> '.join([*seen, ref])} does not end")
            seen.append(ref)
            node = self.lookup(ref, f"{where}.$ref")
        return node

    def check_refs(self, node: Any, where: str) -> None:
        """Every local `$ref` reachable from `node` points somewhere; each target is visited
        once, so the cost is linear in the document whatever the references' shape."""
        visited: set[str] = set()
        stack: list[tuple[Any, str]] = [(node, where)]
        while stack:
            item, at = stack.pop()
            if isinstance(item, Mapping):
                ref = item.get("$ref")
                if isinstance(ref, str) and ref not in visited:
                    visited.add(ref)
                    stack.append((self.lookup(ref, f"{at}.$ref"), ref))
                stack.extend((v, f"{at}.{k}") for k, v in item.items() if k not in DATA_KEYS)
            elif isinstance(item, list):
                stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))


def read_source(
    source: str, base: Path | None = None, *, allow_private_networks: bool = False
) -> tuple[str, str]:
    """(text, canonical source) of a file path or an http(s) URL. A URL is fetched once through
    the SSRF guard (`fetch.py`: public addresses only unless `allow_private_networks`, no
    redirects, size and time capped)."""
    if source.startswith(("http://", "https://")):
        try:
            text = fetch_spec(source, allow_private_networks=allow_private_networks)
        except FetchError as exc:
            raise OpenAPIError("", f"cannot fetch {source}: {exc}") from None
        return text, source
    path = Path(source)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise OpenAPIError("", f"cannot read {path}: {exc.strerror}") from None


def parse_text(text: str, source: str) -> Any:
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return yaml.load(text, Loader=_YAML_LOADER)
    except json.JSONDecodeError as exc:
        raise OpenAPIError(f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise OpenAPIError(where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_document(
    source: str, base: Path | None = None, *, allow_private_networks: bool = False
) -> Document:
    """Read, parse and check the document at `source` (a file, or an http(s) URL fetched once
    through the SSRF guard). `OpenAPIError` names what is wrong and where."""
    text, canonical = read_source(source, base, allow_private_networks=allow_private_networks)
    return check_document(parse_text(text, canonical), canonical)


def check_document(raw: Any, source: str = "document") -> Document:
    """Structural checks, each error naming its location."""
    if not isinstance(raw, Mapping):
        raise OpenAPIError("(top level)", "an OpenAPI document must be a mapping")
    if "swagger" in raw:
        raise OpenAPIError("swagger", "Swagger 2.0 is not supported; convert it to OpenAPI 3")
    version = str(raw.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        raise OpenAPIError("openapi", f"unsupported version {version!r}; use 3.0.x or 3.1.x")
    if not isinstance(raw.get("info"), Mapping):
        raise OpenAPIError("info", "required, and must be a mapping")
    paths = raw.get("paths", {})
    if not isinstance(paths, Mapping):
        raise OpenAPIError("paths", "must be a mapping of path templates")
    for path, item in paths.items():
        where = f"paths.{path}"
        if not str(path).startswith("/"):
            raise OpenAPIError(where, "a path must start with '/'")
        if not isinstance(item, Mapping):
            raise OpenAPIError(where, "a path item must be a mapping")
        _check_parameters(item.get("parameters", []), f"{where}.parameters")
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            if not isinstance(op, Mapping):
                raise OpenAPIError(f"{where}.{method}", "an operation must be a mapping")
            _check_parameters(op.get("parameters", []), f"{where}.{method}.parameters")
            body = op.get("requestBody")
            if body is not None and not isinstance(body, Mapping):
                raise OpenAPIError(f"{where}.{method}.requestBody", "must be a mapping")
    document = Document(raw, source, version)
    document.check_refs(raw.get("paths", {}), "paths")
    return document


def _check_parameters(params: Any, where: str) -> None:
    if not isinstance(params, list):
        raise OpenAPIError(where, "must be a list")
    for i, param in enumerate(params):
        at = f"{where}[{i}]"
        if not isinstance(param, Mapping):
            raise OpenAPIError(at, "a parameter must be a mapping")
        if "$ref" in param:
            continue
        if not isinstance(param.get("name"), str):
            raise OpenAPIError(f"{at}.name", "required, and must be a string")
        if param.get("in") not in PARAM_LOCATIONS:
            raise OpenAPIError(f"{at}.in", f"must be one of {', '.join(PARAM_LOCATIONS)}")
        if param["in"] == "path" and param.get("required") is not True:
            raise OpenAPIError(f"{at}.required", "a path parameter must be required: true")
