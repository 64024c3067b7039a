"""Hot catalog reload: re-read the catalog file, check it, and serve it without a restart.

Three triggers, one path (`Reloader.reload`):

    file watch   every `TOOLWIRE_RELOAD_POLL_S` seconds (default 2; 0: off) the catalog file and
                 its includes are checked (mtime and size, then a content hash); a change
                 reloads this instance only, since every instance watches its own file
    SIGHUP       `kill -HUP <pid>` reloads this instance and signals the others
    admin API    `POST /admin/v1/reload` (`toolwire reload`) does the same and answers with the
                 result, or the refusal with its location

The model with several instances: a reload on one publishes `{"origin", "version"}` on the state
backend's `catalog:reload` channel (in-process for `memory://`, Redis pub/sub for `redis://`).
Each other instance re-reads its own catalog file, the same file or a copy of it, and reloads
unless it already serves that version. A version (`catalog_version`) is a hash of the merged file
content and of the compiled tool definitions, so instances report in `/readyz` which catalog
they serve, and identical files give identical versions.

A reload builds the new catalog off the event loop (a thread: files are read, OpenAPI documents
may be fetched), reopens the vault so that secrets the new catalog names are resolved the way
they are at start, and then swaps it in (`Gateway.swap_catalog`): calls in flight finish on the
old catalog, whose adapters close when the last of them ends, and MCP clients are told
`notifications/tools/list_changed`. Federated MCP servers follow the `mcp:` section: added and
changed ones are started (and discover their tools) before the swap, removed and replaced ones
are closed after the calls in flight on them finish (`config.sources`). An invalid file is
refused with the reason and its location (`ConfigError.location`: file:line and YAML path),
logged, and answered to the admin API; the old catalog stays. Reloads run one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from toolwire.config import (
    CatalogConfig,
    CatalogPlan,
    ConfigError,
    build_plan,
    load_config,
    locate,
    sources,
)
from toolwire.core.catalog import Catalog
from toolwire.core.errors import InvalidRequest
from toolwire.core.gateway import Gateway
from toolwire.core.live import close_unused
from toolwire.settings import Settings
from toolwire.state import StateBackend
from toolwire.upstream.health import HealthRegistry
from toolwire.vault import Redactor, Vault

log = logging.getLogger("toolwire.reload")

CHANNEL = "catalog:reload"
"""Where a reload tells the other instances to reload."""


def catalog_version(config_digest: str, catalog: Catalog, static: Iterable[str]) -> str:
    """12 hex digits naming what an instance serves: the catalog file's merged content and the
    compiled definitions of the file's own tools (`static`: their tool names; names, descriptions,
    schemas, prices, limits, credential names), so a changed OpenAPI document or built-in module
    changes it too. Federated tools are left out: they come and go with their servers, not with
    the file. Read off the one composed catalog (a tool name is in it once, so `static` names
    exactly the file's operations); composing a second, static-only catalog for this doubled
    the start-up work of a large OpenAPI catalog."""
    own = frozenset(static)
    h = hashlib.blake2b(config_digest.encode(), digest_size=6)
    for op in catalog:
        if op.tool not in own:
            continue
        h.update(
            orjson.dumps(
                [
                    op.qualified,
                    op.category,
                    op.description,
                    op.tool_description,
                    op.input_schema,
                    op.output_schema,
                    op.annotations.to_mcp(),
                    op.price,
                    op.byok_fee,
                    op.charge_policy,
                    op.timeout,
                    dict(op.credentials),
                ],
                option=orjson.OPT_SORT_KEYS,
            )
        )
    return h.hexdigest()


def build(
    settings: Settings, redactor: Redactor, health: HealthRegistry | None = None
) -> tuple[CatalogConfig, CatalogPlan]:
    """The catalog file `settings` name, read and built: its config (with the files it was read
    from) and the plan (static tools and federated sources), not yet composed. Raises
    `ConfigError` with its location."""
    try:
        config = load_config(settings.config)
        plan = build_plan(config, settings.builtin_profiles, redactor=redactor, health=health)
    except ConfigError as exc:
        raise locate(exc) from None
    except ValueError as exc:  # a check below the config layer; the file is at fault
        raise _in_file(settings, exc) from None
    return config, plan


def compose(settings: Settings, config: CatalogConfig, plan: CatalogPlan) -> tuple[Catalog, str]:
    """The plan's catalog, composed once, and its version (`catalog_version`). Raises
    `ConfigError` for a catalog the file makes invalid (e.g. a tool declared twice)."""
    try:
        catalog = plan.compose()
    except ValueError as exc:
        raise _in_file(settings, exc) from None
    return catalog, catalog_version(config.digest, catalog, (t.name for t in plan.static))


def _in_file(settings: Settings, exc: ValueError) -> ConfigError:
    return ConfigError(str(exc), file=None if settings.config is None else str(settings.config))


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: `reloaded` (a new version is served) or `unchanged`."""

    status: Literal["reloaded", "unchanged"]
    version: str
    previous: str
    operations: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    instance: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "version": self.version,
            "previous": self.previous,
            "operations": self.operations,
            "added": list(self.added),
            "removed": list(self.removed),
            "instance": self.instance,
        }


@dataclass
class _Watched:
    """The files a catalog was read from, as last seen: (mtime_ns, size) and a content hash."""

    files: tuple[Path, ...] = ()
    stats: tuple[tuple[int, int], ...] = ()
    digest: str = ""


@dataclass
class Reloader:
    """Reloads the gateway's catalog on a file change, SIGHUP, the admin API or a peer's signal.

    `start()` begins watching and listening (and handles SIGHUP when `sighup` and running in the
    main thread); `stop()` ends it. `reload()` is the one path every trigger takes."""

    settings: Settings
    gateway: Gateway
    state: StateBackend
    redactor: Redactor
    vault: Vault | None = None
    plan: CatalogPlan | None = None
    """The plan served, updated in place by each reload (others hold it: `/readyz`, the CLI's
    status, shutdown). A federated source whose `mcp:` entry is unchanged keeps running; an
    added or changed one is started before the swap; a removed or replaced one is closed once
    the calls in flight on the old catalog have finished (`config.sources`)."""
    health: HealthRegistry | None = None
    """The process's upstream health registry: a reloaded upstream keeps its breaker state."""
    instance: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _sighup: bool = field(default=False, init=False)
    _watched: _Watched = field(default_factory=_Watched, init=False)

    # -- the one path ------------------------------------------------------------------------

    async def reload(self, *, trigger: str, broadcast: bool = True) -> ReloadResult:
        """Re-read the catalog file, check it and serve it. Raises `ConfigError` (with its
        location filled in) when the file is invalid; the current catalog then stays. With
        `broadcast`, a reload that was not refused (`reloaded` or `unchanged`) tells the other
        instances to reload too; each skips it when it already serves that version."""
        async with self._lock:
            result = await self._reload(trigger)
        if broadcast:
            message = {"origin": self.instance, "version": result.version}
            try:
                await self.state.publish(CHANNEL, orjson.dumps(message))
            except Exception:
                log.exception("could not tell the other instances to reload")
        return result

    async def admin_reload(self) -> dict[str, Any]:
        """`reload` for the admin API: the result as data, or `InvalidRequest` whose details
        carry the refusal's location (`reason: invalid_catalog`, file, line, path, location)
        and the version still served."""
        try:
            result = await self.reload(trigger="admin API")
        except ConfigError as exc:
            details = {
                "reason": "invalid_catalog",
                **exc.to_dict(),
                "version": self.gateway.catalog_version,
            }
            del details["message"]
            raise InvalidRequest(f"the catalog was not reloaded: {exc}", details=details) from None
        return result.to_dict()

    async def _reload(self, trigger: str) -> ReloadResult:
        read = self._watched = _snapshot(self.settings.config, self._watched.files)
        if self.vault is not None:
            await self.vault.load()  # secrets set since the start are known before any call
        try:
            config, plan = await asyncio.to_thread(build, self.settings, self.redactor, self.health)
            # read with the composition below, no await between: the catalog it was composed
            # against (a source's tools may change, and be swapped in, during any await)
            previous = self.gateway.live.catalog
            # composed once with the running federated sources: the version reads the file's own
            # tools only, and when no MCP upstream changes this is the catalog to serve
            running = self.plan.sources if self.plan is not None else ()
            content = self.plan.content if self.plan is not None else ()
            kept = CatalogPlan(
                plan.static, running, content, policy=plan.policy, limits=plan.limits
            )
            catalog, version = compose(self.settings, config, kept)
        except ConfigError as exc:
            log.error(
                "catalog reload (%s) refused, still serving %s: %s",
                trigger,
                self.gateway.catalog_version,
                exc,
                extra={"location": exc.location, "reload_trigger": trigger},
            )
            raise
        files = config.files
        if files != read.files:  # includes changed: watch them from now on
            self._watched = _Watched(files, read.stats, "")
        before = self.gateway.catalog_version
        change = sources.compare(running, plan.sources)
        if version == before:
            await close_unused(catalog, keep=previous)
            await sources.close_all(plan.sources)  # built, never started
            log.info("catalog reload (%s): unchanged at %s", trigger, version)
            return ReloadResult("unchanged", version, before, len(previous), (), (), self.instance)
        if change.started:
            lookup = self.vault.get if self.vault is not None else sources.no_secrets
            await sources.start_all(
                change.started,
                self.gateway.catalog_changed,
                lookup,
                self.settings.upstream_start_wait_s,
            )
        await sources.close_all(change.unused)
        served = self.plan if self.plan is not None else CatalogPlan(())
        served.static, served.policy, served.limits = plan.static, plan.policy, plan.limits
        served.sources = change.sources
        served.content = change.content(plan.content)
        self.plan = served
        if change.started or change.retired or self.gateway.live.catalog is not previous:
            # sources started or retired, or a federated server's tools changed (and were swapped
            # in) during an await above: `catalog` is stale, compose it again from the sources
            # as they are now (no await from here to the swap)
            catalog = served.compose()
        self.gateway.compose = served.compose if served.sources else None
        await self.gateway.swap_catalog(catalog, version)
        self.gateway.federation.replace(served.content)
        if change.retired:
            log.info(
                "catalog reload (%s): MCP upstreams started %s, retired %s",
                trigger,
                [s.name for s in change.started] or "none",
                [s.name for s in change.retired],
            )
            self._spawn(
                sources.retire(change.retired, self.gateway.live, self.settings.drain_timeout_s),
                "mcp-retire",
            )
            serving = {s.name for s in served.sources}
            for gone in change.retired:
                if self.health is not None and gone.name not in serving:
                    self.health.forget(gone.name)
        old = {op.qualified for op in previous}
        new = {op.qualified for op in catalog}
        result = ReloadResult(
            "reloaded",
            version,
            before,
            len(catalog),
            tuple(sorted(new - old)),
            tuple(sorted(old - new)),
            self.instance,
        )
        log.info(
            "catalog reloaded (%s): %s -> %s, %d operations (+%d, -%d)",
            trigger,
            before,
            version,
            len(catalog),
            len(result.added),
            len(result.removed),
        )
        return result

    # -- the triggers ------------------------------------------------------------------------

    async def start(self, *, sighup: bool = True) -> None:
        """Listen for other instances' reloads, watch the catalog file, handle SIGHUP (when
        `sighup`, on Unix, in the main thread). Returns once the listener is subscribed."""
        self._watched = _snapshot(self.settings.config, _files(self.settings.config))
        listening = asyncio.Event()
        self._spawn(self._listen(listening), "catalog-reload")
        if self.settings.config is not None and self.settings.reload_poll_s > 0:
            self._spawn(self._watch(), "catalog-watch")
        if sighup and threading.current_thread() is threading.main_thread():
            with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
                self._sighup = True
        await listening.wait()

    async def stop(self) -> None:
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading the catalog")
        self._spawn(self._quietly("SIGHUP", broadcast=True), "catalog-sighup")

    async def _quietly(self, trigger: str, *, broadcast: bool) -> None:
        """`reload` where no one waits for the answer: a refusal is already logged, and any
        other failure (the vault's database unreachable) is logged here."""
        try:
            await self.reload(trigger=trigger, broadcast=broadcast)
        except ConfigError:
            pass
        except Exception:
            log.exception("catalog reload (%s) failed; the catalog served stays", trigger)

    async def _listen(self, listening: asyncio.Event) -> None:
        async with self.state.subscribe(CHANNEL) as messages:
            listening.set()
            async for raw in messages:
                try:
                    message = orjson.loads(raw)
                    origin, version = message["origin"], message["version"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                if origin == self.instance or version == self.gateway.catalog_version:
                    continue
                await self._quietly(f"signal from {origin}", broadcast=False)

    async def _watch(self) -> None:
        interval = self.settings.reload_poll_s
        while True:
            await asyncio.sleep(interval)
            try:
                seen = self._watched
                now = _stats(seen.files)
                if now == seen.stats:
                    continue
                if _digest(seen.files) == seen.digest:
                    self._watched = _Watched(seen.files, now, seen.digest)
                    continue
                await self._quietly("file change", broadcast=False)
            except Exception:
                log.exception("watching the catalog file failed")


def _files(config: Path | None) -> tuple[Path, ...]:
    """The catalog file and the files it includes (just the file when it does not parse)."""
    if config is None:
        return ()
    try:
        return load_config(config).files
    except (ConfigError, ValueError):
        return (config,)


def _snapshot(config: Path | None, files: Iterable[Path]) -> _Watched:
    found = tuple(files) or (() if config is None else (config,))
    return _Watched(found, _stats(found), _digest(found))


def _stats(files: Iterable[Path]) -> tuple[tuple[int, int], ...]:
    out = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            out.append((-1, -1))
            continue
        out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


def _digest(files: Iterable[Path]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for path in files:
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"\0missing")
    return h.hexdigest()
