"""Rate limits: the catalog section refused at load when a value is zero, negative or absurd;
plans by account; a storage that fails refuses (closed) or lets through (open), with a deadline.

Every limit kind end to end, in memory and in Redis shared by two gateways: tests/e2e/
test_rate_limits.py."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from toolwire.config import ConfigError, build_catalog, parse_config
from toolwire.core.catalog import Catalog
from toolwire.core.errors import RateLimited
from toolwire.core.model import Principal
from toolwire.core.ratelimits import RateLimits, parse_rate, storage_for
from toolwire.core.scopes import ScopeSet
from toolwire.testing import free_port


def catalog(limits: dict[str, Any], **extra: Any) -> Catalog:
    config = {"builtins": {"include": ["echo", "uuid"]}, "limits": limits, **extra}
    return build_catalog(parse_config(config))


def who(key: str = "key_1", account: str = "acc_1") -> Principal:
    return Principal(key, account, ScopeSet(["*"]))


@pytest.mark.parametrize(
    ("text", "seconds"), [("10/minute", 60), ("100 per hour", 3600), ("5/2 seconds", 2)]
)
def test_a_rate_is_n_per_window(text: str, seconds: int) -> None:
    assert parse_rate(text).get_expiry() == seconds


@pytest.mark.parametrize(
    ("limits", "where"),
    [
        ({"per_key": "0/minute"}, "limits/per_key"),
        ({"per_key": "-1/minute"}, "limits/per_key"),
        ({"per_key": "2000000000/second"}, "limits/per_key"),
        ({"per_key": "1/1000 years"}, "limits/per_key"),
        ({"per_key": "lots"}, "limits/per_key"),
        ({"per_key": "1/minute;2/hour"}, "limits/per_key"),
        ({"per_key": 10}, "limits/per_key"),
        ({"tools": {"echo": {"per_key": "0/hour"}}}, "limits/tools/echo/per_key"),
        ({"tools": {"echo": {}}}, "limits/tools/echo"),
        ({"tools": {"nosuch": {"per_key": "1/hour"}}}, "limits/tools/nosuch"),
        ({"upstreams": {"nosuch": "1/hour"}}, "limits/upstreams/nosuch"),
        ({"plans": {"pro": {"accounts": ["a"]}}}, "limits/plans/pro"),
        (
            {
                "plans": {
                    "a": {"per_account": "1/hour", "accounts": ["x"]},
                    "b": {"per_account": "1/hour", "accounts": ["x"]},
                }
            },
            "limits/plans/b/accounts",
        ),
        ({"on_storage_error": "maybe"}, "limits/on_storage_error"),
    ],
)
def test_a_bad_limit_is_refused_at_load_with_its_location(
    limits: dict[str, Any], where: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        catalog(limits)
    assert f"at {where}" in str(refused.value)


@pytest.mark.parametrize("timeout", [0, -1, 10**6])
def test_a_zero_negative_or_absurd_timeout_is_refused_at_load(timeout: float) -> None:
    with pytest.raises(ConfigError, match="at timeouts/echo"):
        build_catalog(parse_config({"timeouts": {"echo": timeout}}))


async def test_an_account_on_a_plan_gets_its_plans_rate() -> None:
    plans = {
        "default": {"per_account": "1/hour"},
        "pro": {"per_account": "3/hour", "accounts": ["acc_pro"]},
    }
    built = catalog({"plans": plans})
    limits = RateLimits(lambda: built.limits)
    echo = built.resolve("echo")
    for _ in range(3):
        await limits.admit(who("k1", "acc_pro"), echo, {})
    with pytest.raises(RateLimited) as refused:
        await limits.admit(who("k2", "acc_pro"), echo, {})
    assert refused.value.details["rule"] == "limits.plans.pro.per_account"
    await limits.admit(who("k3", "acc_free"), echo, {})
    with pytest.raises(RateLimited) as refused:
        await limits.admit(who("k3", "acc_free"), echo, {})
    assert refused.value.details["rule"] == "limits.plans.default.per_account"
    assert refused.value.details["limit"] == "1 per 1 hour"
    assert 3590 <= refused.value.details["retry_after_s"] <= 3600


async def test_limits_follow_the_current_catalog() -> None:
    """A reloaded catalog's limits apply at once; an unchanged rate keeps its count (the
    library keys a counter by its rate, so a changed rate starts afresh)."""
    current = [catalog({"per_key": "1/hour"})]
    limits = RateLimits(lambda: current[0].limits)
    await limits.admit(who(), current[0].resolve("echo"), {})
    current[0] = catalog({"per_key": "1/hour", "per_key_tool": "5/hour"})
    with pytest.raises(RateLimited):
        await limits.admit(who(), current[0].resolve("uuid"), {})
    current[0] = catalog({})
    await limits.admit(who(), current[0].resolve("echo"), {})


@pytest.mark.parametrize("mode", ["closed", "open"])
async def test_an_unreachable_redis_refuses_or_lets_through_as_configured_and_is_logged(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    built = catalog({"per_key": "5/hour", "on_storage_error": mode})
    storage = storage_for(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    limits = RateLimits(lambda: built.limits, storage)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="toolwire.limits"):
        if mode == "closed":
            with pytest.raises(RateLimited) as refused:
                await limits.admit(who(), built.resolve("echo"), {})
            assert refused.value.details == {"reason": "limits_unavailable", "retry_after_s": 1}
        else:
            await limits.admit(who(), built.resolve("echo"), {})
    assert time.monotonic() - started < 5.0
    assert "rate-limit storage failed (ConnectionError)" in caplog.text
    assert "let through" in caplog.text if mode == "open" else "refused" in caplog.text


async def test_a_stored_plan_wins_over_the_catalogs_list_and_an_unknown_one_falls_back() -> None:
    plans = {
        "default": {"per_account": "1/hour"},
        "pro": {"per_account": "3/hour"},
        "listed": {"per_account": "2/hour", "accounts": ["acc_l", "acc_gone"]},
    }
    rules = catalog({"plans": plans}).limits
    on = {
        (None, "acc_l"): "listed",  # no stored plan: the catalog's list decides
        ("pro", "acc_l"): "pro",  # a stored plan wins
        ("pro", "acc_x"): "pro",
        (None, "acc_x"): "default",
        ("gone", "acc_gone"): "listed",  # a plan the catalog no longer defines: the list
        ("gone", "acc_x"): "default",  # ... or default
    }
    for (stored, account), expected in on.items():
        principal = Principal("k", account, ScopeSet(["*"]), plan=stored)
        assert rules.plan_for(principal) == expected, (stored, account)
