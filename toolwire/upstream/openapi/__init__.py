"""OpenAPI import: a curated set of an API's operations as tool operations over the HTTP adapter.

`load_document` (document.py) -> `plan`/`build_tool` (build.py) under a `Curation` (curation.py);
schemas as shared `$defs` (schemas.py), parameters' styles and owned names (params.py), schema
budget (budget.py), spec URLs fetched under the SSRF guard (fetch.py).
"""

from toolwire.upstream.openapi.build import Limits, Planned, build_tool, plan
from toolwire.upstream.openapi.curation import Curation, Override, Rule, annotations_for
from toolwire.upstream.openapi.document import (
    Document,
    OpenAPIError,
    check_document,
    load_document,
)
from toolwire.upstream.openapi.params import Owned

__all__ = [
    "Curation",
    "Document",
    "Limits",
    "OpenAPIError",
    "Override",
    "Owned",
    "Planned",
    "Rule",
    "annotations_for",
    "build_tool",
    "check_document",
    "load_document",
    "plan",
]
