"""`create_app(settings)`: the ASGI application. The lifespan builds every service once.

Nothing is created at import time; two apps in one process share nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route

from toolwire import __version__, reload
from toolwire import metrics as metrics_module
from toolwire.billing import Billing
from toolwire.bootstrap import (
    FirstStart,
    admin_account_id,
    first_start,
    load_secret,
    prepare_data_dir,
)
from toolwire.config import CatalogPlan, virtual_servers
from toolwire.core.admin import Admin
from toolwire.core.authenticator import Authenticator
from toolwire.core.catalog import Catalog
from toolwire.core.errors import (
    Internal,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ToolwireError,
    Unavailable,
)
from toolwire.core.federated import Federation
from toolwire.core.gateway import Gateway
from toolwire.core.pins import PinGuard
from toolwire.core.ratelimits import RateLimits, storage_for
from toolwire.core.servers import VirtualServer
from toolwire.inbound import a2a, admin, admin_audit, admin_billing, mcp, openai, rest
from toolwire.inbound import metrics as metrics_door
from toolwire.inbound.console.routes import routes as console_routes
from toolwire.inbound.face import Face
from toolwire.inbound.front import GatewayApp
from toolwire.inbound.http import json_response
from toolwire.inbound.mcp.runtime import (
    Runtime,
    announce_content_changed,
    announce_tools_changed,
)
from toolwire.inbound.mcp.subscriptions import announce_updated
from toolwire.inbound.middleware import Edge
from toolwire.inbound.openapi_doc import openapi_document
from toolwire.metrics import Metrics, UpstreamState
from toolwire.oauth.verifier import OAuthVerifier
from toolwire.sealing import derive_key
from toolwire.services import Services
from toolwire.settings import Settings
from toolwire.state import state_from_url
from toolwire.state.breakers import BreakerBoard
from toolwire.store import Store
from toolwire.store.audit_log import AuditLog
from toolwire.store.boundary import guard
from toolwire.store.db import unreachable
from toolwire.store.pins import PinStore
from toolwire.store.secrets import SecretStore
from toolwire.upstream.health import HealthRegistry
from toolwire.vault import Redactor, Vault, install_log_redaction

log = logging.getLogger("toolwire.app")
http_log = logging.getLogger("toolwire.http")

OnReady = Callable[[Services, FirstStart | None], None]


@dataclass(frozen=True)
class Prepared:
    """A catalog already built (by `toolwire serve`, to report config errors before starting),
    with the redactor its adapters register derived secrets with. The lifespan uses it as is:
    the catalog is built, and its OpenAPI specs read or fetched, once per process. `plan` holds
    the federated MCP upstreams, started by the lifespan."""

    catalog: Catalog
    redactor: Redactor
    plan: CatalogPlan | None = None
    health: HealthRegistry = field(default_factory=HealthRegistry)
    servers: dict[str, VirtualServer] = field(default_factory=dict)
    version: str = ""
    """`toolwire.reload.catalog_version` of the catalog."""


def prepare(settings: Settings) -> Prepared:
    """Build the catalog `settings` name. Raises `ConfigError` (with its location filled in)."""
    redactor = Redactor()
    health = HealthRegistry()
    config, plan = reload.build(settings, redactor, health)
    catalog, version = reload.compose(settings, config, plan)  # once: the version reads it
    return Prepared(catalog, redactor, plan, health, virtual_servers(config), version)


async def build_services(
    settings: Settings, prepared: Prepared | None = None
) -> tuple[Services, FirstStart | None]:
    """Everything a gateway process needs, in dependency order. The caller closes the store."""
    prepare_data_dir(settings)
    secret = load_secret(settings)
    if prepared is None:
        prepared = prepare(settings)
    store = await Store.open(
        settings.sqlalchemy_url,
        key_cache_seconds=settings.key_cache_seconds,
        connect_timeout_s=settings.db_connect_timeout_s,
        pool_timeout_s=settings.db_pool_timeout_s,
        statement_timeout_s=settings.db_statement_timeout_s,
        busy_timeout_s=settings.db_busy_timeout_s,
    )
    try:
        admin_account = await admin_account_id(store)
        created = await first_start(settings, store, admin_account)
        redactor = prepared.redactor
        install_log_redaction(redactor)
        vault = Vault.over(SecretStore(store.engine), secret, redactor)
        await vault.load()
        catalog = prepared.catalog
        plan = prepared.plan or CatalogPlan(())
        version = prepared.version
        pin_store = guard(PinStore(store.engine), "pins")
        pins = PinGuard(pin_store, store.audit, refresh_s=settings.pin_refresh_s)
        await pins.sync(catalog)  # before serving: a changed upstream tool is held from the start
        billing = Billing(
            store,
            secret,
            idempotency_window_s=settings.idempotency_window_s,
            dead_after_s=settings.instance_dead_after_s,
            on_secret=redactor.add,
        )
        await billing.start()  # before serving: resolve what dead processes left open
        store.audit.redact = redactor.scrub_obj  # kept arguments are stored redacted
        tracer = _tracer(settings)
    except BaseException:
        await store.close()
        raise
    metrics = Metrics() if settings.metrics else None
    gateway = Gateway(
        catalog,
        store.ledger if metrics is None else metrics.ledger(store.ledger),
        store.audit if metrics is None else metrics.audit(store.audit),
        default_timeout=settings.default_timeout,
        credentials=vault,
        own_keys=billing.byok,
        idempotency=billing.idempotency,
        explicit_forbidden=settings.explicit_forbidden,
        compose=plan.compose if plan.sources else None,
        pins=pins,
        servers=prepared.servers,
        tracer=tracer,
        digest_key=derive_key(secret, AUDIT_DIGEST),
        catalog_version=version,
    )
    gateway.federation = Federation(plan.content, gateway.audit)
    # Rate limits read the current catalog's `limits` per call (a reload applies at once) and
    # count in memory, or in Redis when TOOLWIRE_STATE_URL names it (docs/design/limits.md).
    gateway.admission = (
        RateLimits(
            lambda: gateway.catalog.limits,
            storage_for(settings.state_url),
            on_refused=None if metrics is None else metrics.rate_limit_refused,
        ),
    )
    tokens = None
    if settings.oauth_authorization_servers:
        tokens = OAuthVerifier(settings, store.keys.principal_for_key_id)
    auth = Authenticator(
        store.keys, admin_key=settings.admin_key, admin_account_id=admin_account, tokens=tokens
    )
    state = state_from_url(settings.state_url)
    # pins first: a newly discovered tool is recorded (first sight) before clients are told
    gateway.on_catalog_changed(PinResync(gateway, pins, catalog))
    gateway.on_catalog_changed(functools.partial(announce_tools_changed, state))
    gateway.federation.on_updated(functools.partial(announce_updated, state))
    gateway.federation.on_lists_changed(functools.partial(announce_content_changed, state))
    if metrics is not None:
        metrics.watch_health(HealthStates(prepared.health))
    reloader = reload.Reloader(
        settings, gateway, state, redactor, vault, plan=plan, health=prepared.health
    )
    admin_service = Admin(
        store.accounts,
        keys=store.keys,
        limits=billing,
        byok=billing.byok,
        usage=billing.usage,
        audit=guard(AuditLog(store.engine, flush=store.audit.flush), "audit_log"),
        operations=lambda: gateway.catalog,
        servers=lambda: gateway.servers,
        pins=pin_store,
        on_pins_changed=functools.partial(refresh_pins, gateway, pins),
        health=prepared.health,
        pin_counts=pins,
        reload=reloader.admin_reload,
        plans=lambda: gateway.catalog.limits.plans,
    )
    health = prepared.health
    breakers = BreakerBoard(state, reloader.instance, health.apply, health.names)
    health.share_with(breakers)
    services = Services(
        settings,
        gateway,
        auth,
        store,
        secret,
        state,
        billing,
        admin_service,
        reloader,
        upstreams=plan,
        metrics=metrics,
        pins=pins,
        breakers=breakers,
    )
    await plan.start(gateway.catalog_changed, vault.get, settings.upstream_start_wait_s)
    return services, created


class HealthStates:
    """The upstream health registry as the metrics read it at every scrape
    (`toolwire.metrics.UpstreamHealth`): an upstream is up unless its breaker is open."""

    def __init__(self, registry: HealthRegistry) -> None:
        self.registry = registry

    def states(self) -> Iterator[UpstreamState]:
        for row in self.registry.snapshot():
            yield UpstreamState(row["name"], row["state"] != "open", row["state"])


def face_of(services: Services) -> Face:
    """What the doors are handed of `services`: the core's faces and the transport's needs,
    never the store or billing (`toolwire.inbound.face`)."""
    return Face(
        services.gateway,
        services.auth,
        services.admin,
        services.settings,
        services.state,
        services.secret_key,
        services.metrics,
    )


AUDIT_DIGEST = b"toolwire audit digest v1"
"""HKDF purpose of the key the audit records' argument digests are made with."""


def _tracer(settings: Settings) -> Any:
    """The OpenTelemetry tracer when `settings.tracing`; `RuntimeError` without the extra."""
    if not settings.tracing:
        return None
    from toolwire.tracing import OtelTracer

    return OtelTracer()


@contextlib.asynccontextmanager
async def background(services: Services) -> AsyncIterator[None]:
    """The process's background work: the billing reconciler, audit retention, the metrics'
    flusher (several workers) and the separate metrics listener (`metrics_port`); all stopped
    on the way out."""
    settings = services.settings
    tasks = [asyncio.create_task(services.billing.run_forever())]
    if services.metrics is not None:  # several workers: flush the counts to the shared files
        tasks.append(asyncio.create_task(services.metrics.run()))
    if settings.audit_retention_days > 0:
        log_ = AuditLog(services.store.engine)
        retention = settings.audit_retention_days * 86400.0
        tasks.append(
            asyncio.create_task(log_.run_retention(retention, batch=settings.audit_prune_batch))
        )
    listener = None
    if (
        services.metrics is not None
        and settings.metrics_port is not None
        and metrics_module.port_served_here()
    ):
        listener = services.metrics.serve(settings.host, settings.metrics_port)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if listener is not None:
            listener.shutdown()


async def refresh_pins(gateway: Gateway, pins: PinGuard) -> None:
    """Re-read pin approvals; when they changed, tell the doors (MCP `list_changed`)."""
    if await pins.refresh():
        await gateway.swap_catalog(gateway.catalog)


class PinResync:
    """A catalog listener: when the catalog was rebuilt (an operation source's tools changed),
    record the new definitions (`PinGuard.sync`: first sight, changes held and audited), and
    tell the doors again if that changed what is approved."""

    def __init__(self, gateway: Gateway, pins: PinGuard, synced: Catalog) -> None:
        self.gateway = gateway
        self.pins = pins
        self.synced = synced

    async def __call__(self) -> None:
        catalog = self.gateway.catalog
        if catalog is self.synced:
            return
        self.synced = catalog
        if await self.pins.sync(catalog):
            # The current catalog, not `catalog`: another source's change may have swapped in
            # a newer one while the pins were written, and swapping `catalog` back would drop
            # that source's tools until its next change.
            await self.gateway.swap_catalog(self.gateway.catalog)


async def watch_pins(gateway: Gateway, pins: PinGuard) -> None:
    """Every `pins.refresh_s`, pick up approvals made on other instances (or the CLI). Nothing
    is read while the catalog serves no pinned operation (no pinned upstream configured: the
    feature costs no database read; a catalog that gains one is synced by `PinResync`)."""
    while True:
        await asyncio.sleep(pins.refresh_s)
        if not any(pins.pinned(op) for op in gateway.catalog):
            continue
        try:
            await refresh_pins(gateway, pins)
        except Exception:
            log.warning("could not refresh pin approvals", exc_info=True)


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
    elif unreachable(exc):  # any page or route whose store read failed: not a bug, retry later
        log.warning("database unreachable (%s) on %s", type(exc).__name__, request.url.path)
        error = Unavailable("the gateway cannot reach its database; retry later")
        return rest.error_response(error, rest.request_id(request))  # its row: 503, Retry-After
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
    # one entry per upstream: its breaker (`state` for HTTP upstreams; `breaker`), and for a
    # federated MCP server its session's state (`state`: starting, ready, ...) and tools
    upstreams: dict[str, dict[str, Any]] = {}
    for row in svc.admin.upstreams():
        entry = {k: row[k] for k in ("kind", "state", "tools", "held", "last_error")}
        entry["breaker"] = row["state"]
        upstreams[row["name"]] = entry
    if svc.upstreams is not None:
        for status in svc.upstreams.status():
            upstreams.setdefault(str(status["name"]), {}).update(status)
    gateway = svc.gateway
    body: dict[str, Any] = {
        "status": "ready",
        "tools": len(gateway.catalog),
        "catalog_version": gateway.catalog_version,
    }
    if upstreams:
        body["upstreams"] = upstreams
    return json_response(body)


async def openapi_json(request: Request) -> Response:
    svc: Services = request.app.state.services
    return json_response(openapi_document(svc.settings.base_url))


def stop_calls(app: Starlette) -> int:
    """The drain deadline (`toolwire.cli.draining`): calls still running stop with UNAVAILABLE
    (`Gateway.stop_calls`); how many. 0 when the app never started."""
    try:
        services: Services = app.state.services
    except AttributeError:  # Starlette's State raises for a name never set: not started
        return 0
    return services.gateway.stop_calls()


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
        app.state.face = face = face_of(services)  # all the doors may use
        # the doors' per-app state, built here and closed below (never lazily, never at import)
        app.state.mcp_runtime = runtime = Runtime(face)
        app.state.a2a_door = None  # built on the first A2A request (`a2a.door.A2ADoor.of`)
        pin_watch = None
        if services.pins is not None:
            pin_watch = asyncio.create_task(watch_pins(services.gateway, services.pins))
        await services.start_sharing()
        try:
            async with background(services):
                if on_ready is not None:
                    on_ready(services, created)
                # What startup built (modules, catalog, services) lives as long as the process:
                # out of the collector's sight, each request's collections walk only its own
                # young objects (~30% of a free call's CPU, docs/benchmarks.md).
                gc.collect()
                gc.freeze()
                yield {}
        finally:
            gc.unfreeze()  # another app in this process (tests) freezes its own at start
            if pin_watch is not None:
                pin_watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pin_watch
            await services.stop_sharing()
            if app.state.a2a_door is not None:
                await app.state.a2a_door.aclose()  # the SDK's handler drains its running tasks
            await runtime.aclose()
            if services.upstreams is not None:
                await services.upstreams.aclose()
            await services.gateway.live.aclose()
            await services.store.ledger.close()  # every reservation of this process resolved
            await services.billing.stop()
            await services.store.close()
            await services.state.close()
            if services.metrics is not None:
                services.metrics.flush()  # the calls drained above count too (several workers)

    middleware = [Middleware(Edge, settings=settings)]  # request id, body limit, CORS
    routes = [
        *rest.routes,  # the hot routes first: a request is matched against each route in turn
        *mcp.routes,
        *openai.routes,
        *admin.routes,
        *admin_billing.routes,
        *admin_audit.routes,
        *a2a.routes,
        *console_routes,
        *metrics_door.routes,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    return GatewayApp(
        max_body_bytes=settings.max_body_bytes,
        fronted={"/api/v1/execute": rest.FRONT, "/mcp": mcp.FRONT},
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            Exception: http_error,
        },
    )
