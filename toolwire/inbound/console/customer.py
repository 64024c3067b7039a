"""The customer's pages (an account's own key signed in): only that account, ever.

Every read and write takes the account from the signed-in `Principal`, never from the URL; a
key id in a URL that is not the account's is `NotFound` (the 404 page), the same as one that
does not exist. Keys are created within the signed-in key's scopes (`Admin.create_own_key`);
BYOK credential values go in and never come back (the page lists providers only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.responses import Response

from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.inbound.console import charts
from toolwire.inbound.console.operator import parse_scopes
from toolwire.inbound.console.snippets import snippets
from toolwire.inbound.console.web import Visit, redirect, render, status_of

NOTICES = {
    "revoked": "Key revoked.",
    "saved": "Credential saved. Its value is never shown again.",
    "deleted": "Credential deleted.",
}
USAGE_DAYS = 30
RECENT = 20
MAX_CREDENTIAL = 8192
"""Characters in a BYOK credential value."""


def notice(visit: Visit) -> str | None:
    return NOTICES.get(visit.request.query_params.get("done", ""))


async def overview(visit: Visit) -> Response:
    admin, me = visit.svc.admin, visit.me
    info = await admin.get_account(me.account_id)
    since = (datetime.now(UTC) - timedelta(days=USAGE_DAYS - 1)).date()
    rows = await admin.usage(account_id=me.account_id, since=since)
    low = info.low_balance is not None and info.balance <= info.low_balance
    return render(
        visit,
        "me.html",
        account=info,
        low=low,
        totals=charts.by_tool(rows),
        calls_chart=charts.calls_by_tool(rows),
        credits_chart=charts.credits_by_day(rows),
        recent=await admin.history(me.account_id, RECENT),
        snippets=snippets(visit.svc.settings.base_url),
        days=USAGE_DAYS,
    )


async def keys(
    visit: Visit,
    *,
    error: str | None = None,
    status: int = 200,
    secret: str | None = None,
    new_key: object = None,
) -> Response:
    me = visit.me
    return render(
        visit,
        "me_keys.html",
        status,
        keys=await visit.svc.admin.list_keys(me.account_id),
        own_scopes=me.scopes.patterns,
        error=error,
        notice=notice(visit),
        secret=secret,
        new_key=new_key,
        snippets=snippets(visit.svc.settings.base_url, secret) if secret else None,
        values=visit.form,
    )


async def create_key(visit: Visit) -> Response:
    admin = visit.svc.admin
    try:
        name = admin.parse_name(visit.form.get("name", "") or "default")
        scopes = parse_scopes(visit.form.get("scopes", ""))
        info, secret = await admin.create_own_key(visit.me, name, scopes)
    except ToolwireError as exc:
        return await keys(visit, error=exc.message, status=status_of(exc))
    visit.form = {}
    return await keys(visit, secret=secret, new_key=info)


async def revoke_key(visit: Visit) -> Response:
    await visit.svc.admin.revoke_own_key(visit.me, visit.request.path_params["key_id"])
    return redirect("/console/me/keys", "revoked")


async def byok(visit: Visit, *, error: str | None = None, status: int = 200) -> Response:
    admin = visit.svc.admin
    return render(
        visit,
        "byok.html",
        status,
        credentials=await admin.list_byok(visit.me.account_id),
        providers=sorted(admin.byok_providers()),
        error=error,
        notice=notice(visit),
        provider=visit.form.get("provider", ""),
    )


async def put_byok(visit: Visit) -> Response:
    provider = visit.form.get("provider", "").strip()
    value = visit.form.get("value", "")
    try:
        if not value.strip() or len(value) > MAX_CREDENTIAL:
            raise InvalidRequest(
                f"the credential must be 1 to {MAX_CREDENTIAL} characters", details={}
            )
        await visit.svc.admin.put_byok(visit.me.account_id, provider, value.strip())
    except ToolwireError as exc:
        visit.form = {"provider": provider}  # the value is never rendered back
        return await byok(visit, error=exc.message, status=status_of(exc))
    return redirect("/console/me/byok", "saved")


async def delete_byok(visit: Visit) -> Response:
    provider = visit.request.path_params["provider"]
    await visit.svc.admin.delete_byok(visit.me.account_id, provider)
    return redirect("/console/me/byok", "deleted")
