"""Who may talk to the MCP door over HTTP: Origin and Host checks, and Bearer authentication.

- DNS rebinding: a present `Origin` must be on the one origin allow-list (`inbound.origins`:
  loopback, this gateway's public origin, `settings.cors_origins`); otherwise 403. When the
  gateway listens on loopback, `Host` must name loopback (or the public or a listed host) too.
- Authentication: `Authorization: Bearer <key>` (or `X-API-Key`) goes to the core's
  authenticator on every request; with authorization servers configured, a bearer JWT is an
  OAuth access token verified by `toolwire.oauth.verifier` (docs/design/mcp-oauth.md). A 401 carries
  `WWW-Authenticate: Bearer`, with `resource_metadata` pointing at our RFC 9728 document when
  authorization servers are configured, and `error="invalid_token"` when a credential was
  presented but rejected (RFC 6750). `settings.mcp_anonymous_key`, off by default, lets an
  operator map requests that carry no credential to one designated key (how the conformance
  suite, which cannot send a header, is run; see docs/design/mcp-conformance-auth.md).

What this is not: scopes or policy (the core decides what a principal may call).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from toolwire.core.errors import ToolwireError, Unauthenticated, Unavailable
from toolwire.core.model import Principal
from toolwire.inbound import origins
from toolwire.inbound.face import Face
from toolwire.inbound.http import api_key_from
from toolwire.inbound.refusals import MethodNotAllowed, OriginNotAllowed
from toolwire.oauth.verifier import mcp_resource


class InvalidToken(Unauthenticated):
    """A credential was presented and rejected (RFC 6750 `error="invalid_token"`)."""


PRM_PATH = "/.well-known/oauth-protected-resource"


def origin_allowed(request: Request, services: Face) -> bool:
    """A present `Origin` is on the one allow-list (`toolwire.inbound.origins`, shared with
    CORS); on a loopback listener, `Host` names a loopback, public or listed host."""
    settings = services.settings
    origin = request.headers.get("origin")
    if origin is not None and not origins.allowed(origin, settings):
        return False
    if settings.host in origins.LOOPBACK_HOSTS:
        host = request.headers.get("host")
        if host is not None and origins.hostname(host) not in origins.allowed_hosts(settings):
            return False
    return True


async def admit(request: Request, services: Face, allow: tuple[str, ...]) -> Principal:
    """Method, Origin/Host and credential checks, in that order, for every MCP HTTP endpoint.

    Raises `MethodNotAllowed`, `OriginNotAllowed`, `Unauthenticated` or `Unavailable` (the key
    store could not answer; any other failure to authenticate is answered as `Unauthenticated`,
    as it always was)."""
    if request.method not in allow:
        raise MethodNotAllowed(allow)
    if not origin_allowed(request, services):
        raise OriginNotAllowed
    try:
        return await authenticate(request, services)
    except (Unauthenticated, Unavailable):
        raise
    except ToolwireError as exc:
        raise Unauthenticated from exc


async def authenticate(request: Request, services: Face) -> Principal:
    """The principal of this request; `Unauthenticated` when the credential is missing or bad."""
    raw = api_key_from(request)
    if raw is None and request.headers.get("authorization") is None:
        anonymous = services.settings.mcp_anonymous_key
        if anonymous:
            raw = anonymous
    if raw is None:
        raise Unauthenticated("missing credential: send 'Authorization: Bearer <key>'")
    try:
        return await services.auth.authenticate(raw)
    except Unauthenticated as exc:
        raise InvalidToken(exc.message, details=exc.details) from exc
    except ToolwireError:
        raise
    except Exception as exc:  # a failure to verify must not look like a bad key
        raise Unavailable("could not verify the credential; retry later") from exc


def resource_url(services: Face) -> str:
    """This gateway's canonical MCP resource identifier (RFC 8707 audience)."""
    return mcp_resource(services.settings)


def authorization_servers(services: Face) -> tuple[str, ...]:
    return services.settings.oauth_authorization_servers


def challenge(services: Face, error: ToolwireError | None = None) -> str:
    """The `WWW-Authenticate` value of a 401 (for `error`, when known)."""
    if authorization_servers(services):
        prm = services.settings.base_url + PRM_PATH + "/mcp"
        value = f'Bearer resource_metadata="{prm}"'
    else:
        value = 'Bearer realm="toolwire"'
    if isinstance(error, InvalidToken):
        value += ', error="invalid_token"'
    return value


def protected_resource_metadata(services: Face) -> dict[str, Any]:
    return {
        "resource": resource_url(services),
        "authorization_servers": list(authorization_servers(services)),
        "bearer_methods_supported": ["header"],
        "resource_name": "toolwire MCP gateway",
    }
