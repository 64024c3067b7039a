"""The operator's pages (an admin key signed in): accounts, keys, the tool catalog, usage.

Each form handler translates the form onto `Admin` and either redirects (303, with a notice
code) or renders the same page again with the error's message, status from the REST table, and
nothing changed. A new key's secret is rendered once, on the response to the form that made it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from toolwire.core.errors import NotFound, ToolwireError
from toolwire.core.records import parse_day
from toolwire.inbound.console import charts
from toolwire.inbound.console.snippets import snippets
from toolwire.inbound.console.web import Visit, redirect, render, status_of

NOTICES = {
    "created": "Account created.",
    "granted": "Credits granted.",
    "threshold": "Low-balance alert saved.",
    "plan": "Plan saved.",
    "revoked": "Key revoked.",
    "budget": "Budget saved.",
}
"""The only notices a `?done=` code may show (an allow-list: the query never reaches the page)."""
MAX_LISTED = 200


def notice(visit: Visit) -> str | None:
    return NOTICES.get(visit.request.query_params.get("done", ""))


def parse_scopes(text: str) -> list[str]:
    """Scopes typed in one field, separated by spaces or commas; none typed means `*`."""
    return [s for s in text.replace(",", " ").split() if s] or ["*"]


def optional_amount(visit: Visit, field: str) -> int | None:
    value = visit.form.get(field, "").strip()
    return visit.svc.admin.parse_optional_amount(value or None, field)


# accounts


async def accounts(visit: Visit, *, error: str | None = None, status: int = 200) -> Response:
    q = visit.request.query_params.get("q", "").strip()
    found = await visit.svc.admin.list_accounts()
    if q:
        folded = q.lower()
        found = [a for a in found if folded in a.name.lower() or folded in a.id.lower()]
    return render(
        visit,
        "accounts.html",
        status,
        accounts=found[:MAX_LISTED],
        more=max(0, len(found) - MAX_LISTED),
        q=q,
        error=error,
        notice=notice(visit),
        values=visit.form,
    )


async def create_account(visit: Visit) -> Response:
    admin = visit.svc.admin
    try:
        name = admin.parse_name(visit.form.get("name", ""))
        credits = admin.parse_amount(visit.form.get("credits", "") or "0", "credits")
        account = await admin.create_account(name, credits)
    except ToolwireError as exc:
        return await accounts(visit, error=exc.message, status=status_of(exc))
    return redirect(f"/console/accounts/{account.id}", "created")


async def account(
    visit: Visit,
    account_id: str | None = None,
    *,
    error: str | None = None,
    status: int = 200,
    secret: str | None = None,
    new_key: Any = None,
) -> Response:
    admin = visit.svc.admin
    account_id = account_id or visit.request.path_params["account_id"]
    info = await admin.get_account(account_id)  # NotFound: the 404 page
    keys = await admin.list_keys(account_id)
    budgets = {k.id: await admin.budget(k.id) for k in keys if not k.revoked}
    return render(
        visit,
        "account.html",
        status,
        account=info,
        keys=keys,
        budgets=budgets,
        history=await admin.history(account_id, 20),
        plans=admin.plans(),
        error=error,
        notice=notice(visit),
        secret=secret,
        new_key=new_key,
        snippets=snippets(visit.svc.settings.base_url, secret) if secret else None,
        values=visit.form,
    )


async def grant(visit: Visit) -> Response:
    admin = visit.svc.admin
    account_id = visit.request.path_params["account_id"]
    await admin.get_account(account_id)
    try:
        amount = admin.parse_amount(visit.form.get("amount", ""), "amount", positive=True)
        note = visit.form.get("note", "").strip()[:500] or None
        await admin.grant(account_id, amount, note)
    except ToolwireError as exc:
        return await account(visit, error=exc.message, status=status_of(exc))
    return redirect(f"/console/accounts/{account_id}", "granted")


async def low_balance(visit: Visit) -> Response:
    admin = visit.svc.admin
    account_id = visit.request.path_params["account_id"]
    await admin.get_account(account_id)
    try:
        await admin.set_low_balance(account_id, optional_amount(visit, "low_balance"))
    except ToolwireError as exc:
        return await account(visit, error=exc.message, status=status_of(exc))
    return redirect(f"/console/accounts/{account_id}", "threshold")


async def plan(visit: Visit) -> Response:
    admin = visit.svc.admin
    account_id = visit.request.path_params["account_id"]
    await admin.get_account(account_id)
    try:
        await admin.set_plan(account_id, visit.form.get("plan", "").strip() or None)
    except ToolwireError as exc:
        return await account(visit, error=exc.message, status=status_of(exc))
    return redirect(f"/console/accounts/{account_id}", "plan")


async def create_key(visit: Visit) -> Response:
    admin = visit.svc.admin
    account_id = visit.request.path_params["account_id"]
    await admin.get_account(account_id)
    try:
        name = admin.parse_name(visit.form.get("name", "") or "default")
        info, secret = await admin.create_key(
            account_id, name, parse_scopes(visit.form.get("scopes", ""))
        )
    except ToolwireError as exc:
        return await account(visit, error=exc.message, status=status_of(exc))
    visit.form = {}
    return await account(visit, secret=secret, new_key=info)


# keys


async def keys(visit: Visit) -> Response:
    account_id = visit.request.query_params.get("account_id") or None
    found = await visit.svc.admin.list_keys(account_id)
    names = {a.id: a.name for a in await visit.svc.admin.list_accounts()}
    return render(
        visit,
        "keys.html",
        keys=found[:MAX_LISTED],
        names=names,
        account_id=account_id,
        notice=notice(visit),
    )


async def revoke_key(visit: Visit) -> Response:
    info = await visit.svc.admin.revoke_key(visit.request.path_params["key_id"])
    back = visit.form.get("back")
    if back == "keys":
        return redirect("/console/keys", "revoked")
    return redirect(f"/console/accounts/{info.account_id}", "revoked")


async def set_budget(visit: Visit) -> Response:
    admin = visit.svc.admin
    key_id = visit.request.path_params["key_id"]
    info = next((k for k in await admin.list_keys() if k.id == key_id), None)
    if info is None or info.revoked:
        raise NotFound("no such key")
    try:
        hour, day = optional_amount(visit, "hour"), optional_amount(visit, "day")
        await admin.set_budget(key_id, hour, day)
    except ToolwireError as exc:
        return await account(visit, info.account_id, error=exc.message, status=status_of(exc))
    return redirect(f"/console/accounts/{info.account_id}", "budget")


# usage


async def usage(visit: Visit) -> Response:
    q = visit.request.query_params
    filters = {k: q.get(k, "").strip() for k in ("account_id", "tool", "since", "until")}
    error = None
    rows: list[Any] = []
    try:
        rows = await visit.svc.admin.usage(
            account_id=filters["account_id"] or None,
            tool=filters["tool"] or None,
            since=parse_day(filters["since"], "since"),
            until=parse_day(filters["until"], "until"),
        )
    except ToolwireError as exc:
        error = exc.message
    return render(
        visit,
        "usage.html",
        200 if error is None else 400,
        filters=filters,
        rows=rows[-MAX_LISTED:],
        totals=charts.by_tool(rows),
        calls_chart=charts.calls_by_tool(rows),
        credits_chart=charts.credits_by_day(rows),
        accounts=await visit.svc.admin.list_accounts(),
        error=error,
    )
