"""The declarative HTTP adapter: upstreams declared in the catalog YAML, credentials injected,
responses mapped with JMESPath. See `adapter.py` for a call's steps, `auth.py` for the auth modes,
`request.py` for where arguments go. OpenAPI imports compile to the same operations."""

from toolwire.upstream.http.adapter import HttpOperation, HttpUpstream, Retries, UpstreamSpec
from toolwire.upstream.http.injection import AUTH_TYPES, AuthSpec
from toolwire.upstream.http.request import (
    ExpressionRequest,
    LocatedRequest,
    compile_expression,
)

__all__ = [
    "AUTH_TYPES",
    "AuthSpec",
    "ExpressionRequest",
    "HttpOperation",
    "HttpUpstream",
    "LocatedRequest",
    "Retries",
    "UpstreamSpec",
    "compile_expression",
]
