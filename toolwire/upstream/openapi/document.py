"""Reading an OpenAPI document: load (file or URL, JSON or YAML), check its shape, resolve `$ref`s.

What it is: `load_document(source)` -> `Document`, which names every problem by its location in
the document (``paths./pets/{id}.get.parameters[0]: ...``) instead of failing later on a missing
key; `Document.resolve(node, where)` inlines local `$ref`s (``#/...``), marking a cycle instead of
looping. OpenAPI 3.0 and 3.1 only. What it is not: a full validator of the specification (only
what the import relies on is checked) nor the curation (see `curation.py`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import httpx
import yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAM_LOCATIONS = ("path", "query", "header", "cookie")
MAX_REF_DEPTH = 64
FETCH_TIMEOUT_S = 30.0


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

    def resolve(self, node: Any, where: str, _seen: tuple[str, ...] = ()) -> Any:
        """`node` with every local `$ref` inlined (a copy). A reference cycle becomes
        ``{"description": "(recursive: <ref>)"}``, which accepts anything at that depth."""
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref in _seen or len(_seen) >= MAX_REF_DEPTH:
                    return {"description": f"(recursive: {ref})"}
                target = self.lookup(ref, f"{where}.$ref")
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                resolved = self.resolve(target, f"{where}.$ref", (*_seen, ref))
                if siblings and isinstance(resolved, dict):  # 3.1 allows siblings of $ref
                    resolved = {**resolved, **self.resolve(siblings, where, _seen)}
                return resolved
            return {k: self.resolve(v, f"{where}.{k}", _seen) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, f"{where}[{i}]", _seen) for i, v in enumerate(node)]
        return copy.copy(node)


def read_source(source: str, base: Path | None = None) -> tuple[str, str]:
    """(text, canonical source) of a file path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=FETCH_TIMEOUT_S, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise OpenAPIError("", f"cannot fetch {source}: {exc.__class__.__name__}") from None
        return response.text, source
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
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise OpenAPIError(f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise OpenAPIError(where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_document(source: str, base: Path | None = None) -> Document:
    text, canonical = read_source(source, base)
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
    document.resolve(raw.get("paths", {}), "paths")  # every $ref must point somewhere
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
