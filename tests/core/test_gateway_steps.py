"""The call path as named steps: their order, the admission step, the hook points, the
credential-source choice, neutral results and the catalog-changed hook (issue 10 items 5-6)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from toolwire.core.catalog import Catalog, Operation, OperationSpec, ToolSpec
from toolwire.core.content import ImageBlock, TextBlock, ToolResult
from toolwire.core.errors import RateLimited
from toolwire.core.gateway import Gateway
from toolwire.core.hooks import InvokeHooks
from toolwire.core.model import MICRO, Principal, ToolCall
from toolwire.core.ports import InvokeContext, ResolvedCredentials
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store

PRICE = 2 * MICRO
SCHEMA = {"type": "object", "properties": {"mode": {"type": "string"}}}


class Upstream:
    """Returns what each call's `mode` asks for; remembers the last context and arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.ctx: InvokeContext | None = None

    async def invoke(self, operation: Any, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        self.calls.append(arguments)
        self.ctx = ctx
        mode = arguments.get("mode", "ok")
        if mode == "blocks":
            return ToolResult(
                content=(TextBlock("hi"), ImageBlock("AAAA", "image/png")), structured={"n": 1}
            )
        if mode == "flagged":
            return ToolResult(content=(TextBlock("quota exhausted"),), is_error=True)
        if mode == "hang":
            await asyncio.sleep(3600)
        return {"mode": mode, "creds": dict(ctx.credentials)}

    async def aclose(self) -> None:
        return None


def catalog(upstream: Upstream) -> Catalog:
    return Catalog(
        [
            ToolSpec(
                "paid",
                "Priced tool",
                (
                    OperationSpec("run", "run", SCHEMA, upstream, price=PRICE),
                    OperationSpec(
                        "keyed",
                        "needs a key",
                        SCHEMA,
                        upstream,
                        price=PRICE,
                        credentials={"token": "tavily"},
                    ),
                    OperationSpec(
                        "quick", "times out", SCHEMA, upstream, price=PRICE, timeout=0.05
                    ),
                ),
            )
        ]
    )


async def account(store: Store, credits: int) -> Principal:
    info = await store.accounts.create_account("t", credits * MICRO)
    key, _ = await store.accounts.create_key(info.id, "k", ["*"])
    return Principal(key_id=key.id, account_id=info.id, scopes=ScopeSet(("*",)))


def call(tool: str, mode: str = "ok", **kw: Any) -> ToolCall:
    return ToolCall(tool=tool, arguments={"mode": mode}, request_id=f"req-{tool}-{mode}", **kw)


async def balance(store: Store, who: Principal) -> int:
    await store.ledger.flush()
    return await store.accounts.balance(who.account_id)


class Recorded(Gateway):
    """The gateway, noting each named step as it runs."""

    steps: list[str]

    def resolve(self, tool: str, operation: str | None, catalog: Any = None) -> Operation:
        self.steps.append("resolve")
        return super().resolve(tool, operation, catalog)

    def authorize(
        self, principal: Principal, op: Operation, tool: str, operation: str | None
    ) -> Operation:
        self.steps.append("authorize")
        return super().authorize(principal, op, tool, operation)

    def validate(self, op: Operation, arguments: Any) -> dict[str, Any]:  # type: ignore[override]
        self.steps.append("validate")
        return Gateway.validate(op, arguments)

    async def admit(self, principal: Principal, op: Operation, arguments: dict[str, Any]) -> None:
        self.steps.append("admit")
        await super().admit(principal, op, arguments)

    async def claim(self, run: Any) -> Any:
        self.steps.append("claim")
        return await super().claim(run)

    async def credentials_for(self, principal: Principal, op: Operation) -> ResolvedCredentials:
        self.steps.append("credentials")
        return await super().credentials_for(principal, op)

    async def reserve(self, run: Any) -> None:
        self.steps.append("reserve")
        await super().reserve(run)

    async def invoke(self, op: Operation, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        self.steps.append("invoke")
        return await super().invoke(op, arguments, ctx)

    async def keep(self, run: Any, charge: int) -> int:
        self.steps.append("keep")
        return await super().keep(run, charge)

    async def settle(self, run: Any, charge: int) -> None:
        self.steps.append("settle")
        await super().settle(run, charge)

    def audit_call(self, run: Any) -> None:
        self.steps.append("audit")
        super().audit_call(run)


class Idempotency:
    async def claim(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def complete(self, *args: Any) -> None:
        return None

    async def abandon(self, *args: Any) -> None:
        return None


async def test_execute_runs_the_named_steps_in_order(store: Store) -> None:
    gateway = Recorded(catalog(Upstream()), store.ledger, store.audit, idempotency=Idempotency())
    gateway.steps = []
    outcome = await gateway.execute(
        await account(store, 10), call("paid.run", idempotency_key="k1")
    )
    assert outcome.ok
    assert gateway.steps == [
        "resolve",
        "authorize",
        "validate",
        "admit",
        "claim",
        "credentials",
        "reserve",
        "invoke",
        "keep",
        "settle",
        "audit",
    ]


async def test_a_refusal_at_admission_spends_nothing_and_never_reaches_the_upstream(
    store: Store,
) -> None:
    class Closed:
        async def admit(
            self, principal: Principal, operation: Operation, arguments: dict[str, Any]
        ) -> None:
            raise RateLimited("slow down", details={"retry_after_s": 1})

    upstream = Upstream()
    gateway = Gateway(catalog(upstream), store.ledger, store.audit, admission=[Closed()])
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.run"))
    assert outcome.error is not None and outcome.error.code == "RATE_LIMITED"
    assert upstream.calls == []
    assert await balance(store, who) == 10 * MICRO


async def test_hooks_run_around_the_invocation_and_a_failing_hook_releases_the_credits(
    store: Store,
) -> None:
    seen: list[str] = []

    async def before(
        op: Operation, arguments: dict[str, Any], ctx: InvokeContext
    ) -> dict[str, Any]:
        seen.append("before")
        if arguments["mode"] == "refuse":
            raise RuntimeError("hook crashed")
        return {**arguments, "mode": "patched"}

    async def after(
        op: Operation, arguments: dict[str, Any], ctx: InvokeContext, result: ToolResult
    ) -> ToolResult:
        seen.append("after")
        return ToolResult(structured={**result.structured, "after": True})

    upstream = Upstream()
    hooks = InvokeHooks(before=(before,), after=(after,))
    gateway = Gateway(catalog(upstream), store.ledger, store.audit, hooks=hooks)
    who = await account(store, 10)
    ok = await gateway.execute(who, call("paid.run"))
    assert ok.data == {"mode": "patched", "creds": {}, "after": True}
    assert seen == ["before", "after"]
    failed = await gateway.execute(who, call("paid.run", "refuse"))
    assert failed.error is not None and failed.error.code == "UPSTREAM_ERROR"
    assert failed.meta.credits_charged == 0
    assert await balance(store, who) == 8 * MICRO


class Vault:
    async def resolve(self, principal: Principal, operation: Operation) -> ResolvedCredentials:
        return ResolvedCredentials({"token": "platform-secret"}, "platform")


class OwnKeys:
    def __init__(self, keys: Mapping[str, Mapping[str, str]]) -> None:
        self.keys = keys

    async def values(self, account_id: str) -> Mapping[str, str]:
        return self.keys.get(account_id, {})


async def test_the_core_chooses_the_callers_own_key_over_the_vault_and_does_not_charge_it(
    store: Store,
) -> None:
    mine = await account(store, 10)
    other = await account(store, 10)
    own = OwnKeys({mine.account_id: {"tavily": "my-key"}})
    upstream = Upstream()
    gateway = Gateway(
        catalog(upstream), store.ledger, store.audit, credentials=Vault(), own_keys=own
    )
    byok = await gateway.execute(mine, call("paid.keyed"))
    assert byok.data == {"mode": "ok", "creds": {"token": "my-key"}}
    assert (byok.meta.credential_source, byok.meta.credits_charged) == ("byok", 0)
    platform = await gateway.execute(other, call("paid.keyed"))
    assert platform.data == {"mode": "ok", "creds": {"token": "platform-secret"}}
    assert (platform.meta.credential_source, platform.meta.credits_charged) == ("platform", PRICE)


async def test_without_any_credential_source_the_call_fails_before_credits_move(
    store: Store,
) -> None:
    gateway = Gateway(catalog(Upstream()), store.ledger, store.audit, own_keys=OwnKeys({}))
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.keyed"))
    assert outcome.error is not None and outcome.error.details["reason"] == "credential_missing"
    assert await balance(store, who) == 10 * MICRO


async def test_a_neutral_result_keeps_its_blocks_and_structured_content(store: Store) -> None:
    gateway = Gateway(catalog(Upstream()), store.ledger, store.audit)
    outcome = await gateway.execute(await account(store, 10), call("paid.run", "blocks"))
    assert outcome.content == (TextBlock("hi"), ImageBlock("AAAA", "image/png"))
    assert outcome.data == {"n": 1}


async def test_a_result_flagged_as_an_error_is_an_upstream_error_and_is_not_charged(
    store: Store,
) -> None:
    gateway = Gateway(catalog(Upstream()), store.ledger, store.audit)
    who = await account(store, 10)
    outcome = await gateway.execute(who, call("paid.run", "flagged"))
    assert outcome.error is not None
    assert outcome.error.to_dict() == {
        "code": "UPSTREAM_ERROR",
        "message": "quota exhausted",
        "details": {
            "reason": "tool_error",
            "content": [{"type": "text", "text": "quota exhausted"}],
        },
    }
    assert await balance(store, who) == 10 * MICRO


async def test_the_cancellation_signal_is_set_when_the_call_times_out(store: Store) -> None:
    upstream = Upstream()
    gateway = Gateway(catalog(upstream), store.ledger, store.audit)
    outcome = await gateway.execute(await account(store, 10), call("paid.quick", "hang"))
    assert outcome.error is not None and outcome.error.code == "UPSTREAM_TIMEOUT"
    assert upstream.ctx is not None and upstream.ctx.cancelled.is_set()


async def test_an_adapters_catalog_changed_hook_swaps_the_catalog_and_tells_listeners(
    store: Store,
) -> None:
    upstream = Upstream()
    gateway = Gateway(catalog(upstream), store.ledger, store.audit)
    told = asyncio.Event()

    async def listener() -> None:
        told.set()

    gateway.on_catalog_changed(listener)
    await gateway.execute(await account(store, 10), call("paid.run"))
    assert upstream.ctx is not None
    await upstream.ctx.catalog_changed()
    assert told.is_set()
    replacement = catalog(upstream)
    told.clear()
    await gateway.swap_catalog(replacement)
    assert gateway.catalog is replacement and told.is_set()
