"""`create_app(settings)`: the ASGI application. The lifespan builds every service once.

Nothing is created at import time; two apps in one process share nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route

from toolwire import __version__, reload
from toolwire.auth.oauth import OAuthVerifier
from toolwire.billing import Billing
from toolwire.bootstrap import (
    FirstStart,
    admin_account_id,
    first_start,
    load_secret,
    prepare_data_dir,
)
from toolwire.core.admin import Admin
from toolwire.core.auth import Authenticator
from toolwire.core.catalog import Catalog
from toolwire.core.errors import Internal, InvalidRequest, NotFound, PayloadTooLarge, ToolwireError
from toolwire.core.gateway import Gateway
from toolwire.inbound import a2a, admin, admin_billing, mcp, openai, rest
from toolwire.inbound.cors import Cors
from toolwire.inbound.http import json_response
from toolwire.inbound.mcp.runtime import announce_tools_changed
from toolwire.inbound.middleware import BodyLimit, RequestIds
from toolwire.inbound.openapi_doc import openapi_document
from toolwire.services import Services
from toolwire.settings import Settings
from toolwire.state import state_from_url
from toolwire.store import Store
from toolwire.store.secrets import SecretStore
from toolwire.vault import Redactor, Vault, install_log_redaction

log = logging.getLogger("toolwire.app")
http_log = logging.getLogger("toolwire.http")

OnReady = Callable[[Services, FirstStart | None], None]


@dataclass(frozen=True)
class Prepared:
    """A catalog already built (by `toolwire serve`, to report config errors before starting),
    with the redactor its adapters register derived secrets with. The lifespan uses it as is:
    the catalog is built, and its OpenAPI specs read or fetched, once per process."""

    catalog: Catalog
    redactor: Redactor
    version: str = ""
    """`toolwire.reload.catalog_version` of the catalog."""


def prepare(settings: Settings) -> Prepared:
    """Build the catalog `settings` name. Raises `ConfigError` (with its location filled in)."""
    redactor = Redactor()
    catalog, version, _ = reload.build(settings, redactor)
    return Prepared(catalog, redactor, version)


async def build_services(
    settings: Settings, prepared: Prepared | None = None
) -> tuple[Services, FirstStart | None]:
    """Everything a gateway process needs, in dependency order. The caller closes the store."""
    prepare_data_dir(settings)
    secret = load_secret(settings)
    store = await Store.open(settings.sqlalchemy_url, key_cache_seconds=settings.key_cache_seconds)
    try:
        admin_account = await admin_account_id(store)
        created = await first_start(settings, store, admin_account)
        redactor = prepared.redactor if prepared is not None else Redactor()
        install_log_redaction(redactor)
        vault = Vault.over(SecretStore(store.engine), secret, redactor)
        await vault.load()
        if prepared is not None:
            catalog, version = prepared.catalog, prepared.version
        else:
            catalog, version, _ = reload.build(settings, redactor)
        billing = Billing(
            store,
            secret,
            idempotency_window_s=settings.idempotency_window_s,
            dead_after_s=settings.instance_dead_after_s,
            on_secret=redactor.add,
        )
        await billing.start()  # before serving: resolve what dead processes left open
    except BaseException:
        await store.close()
        raise
    gateway = Gateway(
        catalog,
        store.ledger,
        store.audit,
        default_timeout=settings.default_timeout,
        credentials=vault,
        own_keys=billing.byok,
        idempotency=billing.idempotency,
        explicit_forbidden=settings.explicit_forbidden,
        catalog_version=version,
    )
    tokens = None
    if settings.oauth_authorization_servers:
        tokens = OAuthVerifier(settings, store.keys.principal_for_key_id)
    auth = Authenticator(
        store.keys, admin_key=settings.admin_key, admin_account_id=admin_account, tokens=tokens
    )
    state = state_from_url(settings.state_url)
    gateway.on_catalog_changed(functools.partial(announce_tools_changed, state))
    reloader = reload.Reloader(settings, gateway, state, redactor, vault)
    admin_service = Admin(
        store.accounts,
        keys=store.keys,
        limits=billing,
        byok=billing.byok,
        usage=billing.usage,
        operations=lambda: gateway.catalog,
        reload=reloader.admin_reload,
    )
    services = Services(
        settings, gateway, auth, store, secret, state, billing, admin_service, reloader
    )
    return services, created


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing failures (unknown path, wrong method) in the same envelope as everything else."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error: ToolwireError
    if status == 404:
        error = NotFound(f"no route for {request.url.path}")
    elif status == 405:
        error = InvalidRequest(f"method {request.method} not allowed on {request.url.path}")
    elif status == 413:
        error = PayloadTooLarge()
    elif status < 500:
        error = InvalidRequest(str(getattr(exc, "detail", "bad request")))
    else:
        log.error("unhandled error", exc_info=exc)
        error = Internal()
    response = rest.error_response(error, rest.request_id(request))
    response.status_code = status
    if status == 405:
        response.headers["allow"] = allowed_methods(request)
    return response


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (RFC 9110 15.5.6: a 405 carries `Allow`);
    Starlette's own header names only the first route matched, and paths here have several."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def client_gone(request: Request, exc: Exception) -> Response:
    """A client that disconnected mid-body: one line, no traceback (no one reads the answer)."""
    http_log.info("client went away during its request: %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    svc: Services = request.app.state.services
    try:
        async with asyncio.timeout(2.0), svc.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return json_response({"status": "unavailable", "database": "unreachable"}, 503)
    gateway = svc.gateway
    return json_response(
        {
            "status": "ready",
            "tools": len(gateway.catalog),
            "catalog_version": gateway.catalog_version,
        }
    )


async def openapi_json(request: Request) -> Response:
    svc: Services = request.app.state.services
    return json_response(openapi_document(svc.settings.base_url))


def create_app(
    settings: Settings | None = None,
    *,
    on_ready: OnReady | None = None,
    prepared: Prepared | None = None,
) -> Starlette:
    """The application; `prepared`: a catalog already built for these settings (see `prepare`)."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        services, created = await build_services(settings, prepared)
        app.state.services = services
        reconciler = asyncio.create_task(services.billing.run_forever())
        await services.reloader.start()
        if on_ready is not None:
            on_ready(services, created)
        try:
            yield {}
        finally:
            await services.reloader.stop()
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
            await services.gateway.live.aclose()
            await services.store.ledger.close()  # every reservation of this process resolved
            await services.billing.stop()
            await services.store.close()
            await services.state.close()

    middleware = [
        Middleware(Cors, settings=settings),
        Middleware(RequestIds),
        Middleware(BodyLimit, settings=settings),
    ]
    routes = [
        *rest.routes,
        *openai.routes,
        *admin.routes,
        *admin_billing.routes,
        *mcp.routes,
        *a2a.routes,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            Exception: http_error,
        },
    )
