"""The catalog's `limits:` and `policy:` sections, compiled (after the schema check) into the
core's `LimitRules` and `Policy`, with every bad value refused at load with its location.

What it is not: the checks themselves (`toolwire.core.ratelimits`, `toolwire.core.policy`);
the reference for operators is docs/limits-and-policy.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolwire.core.policy import Policy, compile_policy
from toolwire.core.ratelimits import LimitRules, Rate, parse_rate


def _rate(source: str, where: str, text: str) -> Rate:
    try:
        return Rate(where.replace("/", "."), parse_rate(text))
    except ValueError as exc:
        raise ValueError(f"{source}: at {where}: {exc}") from None


def upstream_map(raw: Mapping[str, Any]) -> dict[str, str]:
    """`tool` or `tool.operation` -> the upstream name it reaches: a declared HTTP tool's
    operation its `upstream`, an OpenAPI import its `upstream` (else its own name), a database
    its name."""
    found: dict[str, str] = {}
    for tool, body in (raw.get("tools") or {}).items():
        for op, spec in (body.get("operations") or {}).items():
            found[f"{tool}.{op}"] = spec["upstream"]
    for name, body in (raw.get("openapi") or {}).items():
        found[body.get("tool", name)] = body.get("upstream", name)
    for name in raw.get("databases") or {}:
        found[name] = name
    return found


def limit_rules(raw: Mapping[str, Any], source: str) -> LimitRules:
    """The `limits` section of the (schema-checked) catalog `raw`; ValueError with the location
    for a bad rate, an unknown upstream or an account on two plans."""
    section: Mapping[str, Any] = raw.get("limits") or {}
    rates = {
        name: _rate(source, f"limits/{name}", section[name])
        for name in ("per_key", "per_key_tool")
        if name in section
    }
    per_key: dict[str, Rate] = {}
    all_keys: dict[str, Rate] = {}
    for tool, body in (section.get("tools") or {}).items():
        if "per_key" in body:
            per_key[tool] = _rate(source, f"limits/tools/{tool}/per_key", body["per_key"])
        if "all_keys" in body:
            all_keys[tool] = _rate(source, f"limits/tools/{tool}/all_keys", body["all_keys"])
    known = {
        *(raw.get("upstreams") or {}),
        *(raw.get("openapi") or {}),
        *(raw.get("databases") or {}),
    }
    upstreams: dict[str, Rate] = {}
    for name, text in (section.get("upstreams") or {}).items():
        if name not in known:
            raise ValueError(
                f"{source}: at limits/upstreams/{name}: no upstream, openapi import or database "
                f"of that name in this catalog"
            )
        upstreams[name] = _rate(source, f"limits/upstreams/{name}", text)
    plans: dict[str, Rate] = {}
    plan_of: dict[str, str] = {}
    for plan, body in (section.get("plans") or {}).items():
        plans[plan] = _rate(source, f"limits/plans/{plan}/per_account", body["per_account"])
        for account in body.get("accounts", ()):
            if account in plan_of:
                raise ValueError(
                    f"{source}: at limits/plans/{plan}/accounts: {account!r} is already on "
                    f"plan {plan_of[account]!r}"
                )
            plan_of[account] = plan
    return LimitRules(
        per_key=rates.get("per_key"),
        per_key_tool=rates.get("per_key_tool"),
        tool_per_key=per_key,
        tool_all_keys=all_keys,
        plans=plans,
        plan_of=plan_of,
        upstreams=upstreams,
        upstream_of=upstream_map(raw),
        strategy=section.get("strategy", "fixed-window"),
        on_storage_error=section.get("on_storage_error", "closed"),
    )


def policy(raw: Mapping[str, Any], source: str) -> Policy:
    """The `policy` section of the (schema-checked) catalog `raw`; ValueError with the location
    for a bad regular expression or an empty range."""
    try:
        return compile_policy(raw.get("policy") or {})
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def named_tools(rules: LimitRules, policy: Policy) -> dict[str, str]:
    """Every tool or operation name the two sections name -> its section (so that `apply` can
    refuse a name matching no tool)."""
    names = {name: "limits/tools" for name in (*rules.tool_per_key, *rules.tool_all_keys)}
    names.update({name: "policy" for name in policy.entries})
    return names
