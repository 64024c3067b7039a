"""OpenAPI import: a curated set of an API's operations as tool operations over the HTTP adapter.

`load_document` (document.py) -> `plan`/`build_tool` (build.py) under a `Curation` (curation.py).
"""

from toolwire.upstream.openapi.build import Planned, build_tool, plan, to_json_schema
from toolwire.upstream.openapi.curation import Curation, Override, Rule, annotations_for
from toolwire.upstream.openapi.document import (
    Document,
    OpenAPIError,
    check_document,
    load_document,
)

__all__ = [
    "Curation",
    "Document",
    "OpenAPIError",
    "Override",
    "Planned",
    "Rule",
    "annotations_for",
    "build_tool",
    "check_document",
    "load_document",
    "plan",
    "to_json_schema",
]
