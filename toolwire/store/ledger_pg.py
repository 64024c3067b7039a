"""A PostgreSQL ledger batch in one statement, one round trip, on the asyncpg connection.

What it is: `write_batch`, which sends a whole batch (charge/release entries, every touched
account's balance, the reserve entries) as ONE statement of data-modifying CTEs, committed on its
own (autocommit: no BEGIN, no COMMIT round trips):

1. ``locked``: the touched accounts' rows, ``FOR NO KEY UPDATE`` in sorted id order (the same lock
   order as the general path, so two instances' batches cannot deadlock on each other);
2. ``res``: the charge/release entries, ``ON CONFLICT DO NOTHING`` on the unique partial index
   (one resolution per reservation, ever), ``RETURNING`` what was really inserted;
3. ``upd``: per account, ``balance - (reserves - credits actually inserted)``, only where the
   balance covers it;
4. ``ent``: the reserve entries;
5. ``aud``: the audit records of the calls settled or released here (one per reservation,
   `call_id` = the reservation's id, built by the ledger), each with its own resolution's charge
   only where ``res`` really inserted it (else 0), ``ON CONFLICT DO NOTHING`` on the call's id:
   a call whose record is already stored (a recovery's, or an earlier attempt of this batch
   whose commit was not confirmed) keeps it, so the record commits with its settle, once;
6. a check that every touched account was updated. If one was not (not enough credit for all of
   its reservations, or no such account) the check divides by zero: PostgreSQL aborts the whole
   statement, nothing of it is kept, and `write_batch` returns None so the caller runs the batch
   on the general path (`toolwire.store.ledger`), which picks the reservations that fit.

A statement is atomic, so ``accounts.balance == SUM(ledger_entries.amount)`` holds at every
commit exactly as on the general path. Budgets are not handled here (the caller does not send a
budgeted batch).

What it is not: the batch algorithm's general case, nor the SQLite path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from toolwire.store.audit_sink import AUDIT_COLUMNS
from toolwire.store.tables import AUDIT_CALL_PREDICATE, RESOLVING_PREDICATE

BATCH_SQL = f"""
WITH locked AS (
    SELECT id FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE
),
res AS (
    INSERT INTO ledger_entries
        (account_id, key_id, kind, amount, charged, reservation_id, created_at)
    SELECT r.account_id, r.key_id, r.kind, r.amount, r.charged, r.reservation_id, $4
    FROM json_populate_recordset(NULL::ledger_entries, $3::json) AS r
    ON CONFLICT (reservation_id) WHERE {RESOLVING_PREDICATE} DO NOTHING
    RETURNING reservation_id, account_id, amount
),
credit AS (
    SELECT account_id AS id, sum(amount)::bigint AS credit FROM res GROUP BY account_id
),
net AS (
    SELECT w.id, w.total - coalesce(c.credit, 0) AS net
    FROM unnest($1::text[], $2::bigint[]) AS w(id, total)
    JOIN locked USING (id)
    LEFT JOIN credit c USING (id)
),
upd AS (
    UPDATE accounts a SET balance = a.balance - net.net FROM net
    WHERE a.id = net.id AND a.balance >= net.net
    RETURNING a.id, a.balance
),
ent AS (
    INSERT INTO ledger_entries
        (account_id, key_id, kind, amount, charged, reservation_id, request_id, tool, operation,
         created_at, instance_id)
    SELECT r.account_id, r.key_id, 'reserve', r.amount, 0, r.reservation_id, r.request_id,
           r.tool, r.operation, $4, $5
    FROM json_populate_recordset(NULL::ledger_entries, $6::json) AS r
),
aud AS (
    INSERT INTO audit_events ({", ".join(AUDIT_COLUMNS)})
    SELECT a.request_id, a.at, a.account_id, a.key_id, a.tool, a.operation, a.door, a.outcome,
           CASE WHEN a.call_id IN (SELECT reservation_id FROM res) THEN a.credits_charged
                ELSE 0 END,
           a.latency_ms, a.credential_source, a.message, a.upstream, a.arguments_digest,
           a.arguments, a.call_id
    FROM json_populate_recordset(NULL::audit_events, $8::json) AS a
    ON CONFLICT (call_id) WHERE {AUDIT_CALL_PREDICATE} DO NOTHING
)
SELECT 'r' AS k, reservation_id AS id, NULL::bigint AS balance FROM res
UNION ALL SELECT 'a', id, balance FROM upd
UNION ALL SELECT 'c', NULL, 1 / (CASE WHEN (SELECT count(*) FROM upd) = $7 THEN 1 ELSE 0 END)
"""
"""The batch statement; parameters as `write_batch` binds them."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """A charge or release entry: `amount` is the credit it gives back, `charged` the charge."""

    account_id: str
    key_id: str
    kind: str
    amount: int
    charged: int
    reservation_id: str


@dataclass(frozen=True, slots=True)
class Reserve:
    """A reservation entry (stored with amount `-amount`)."""

    account_id: str
    key_id: str
    amount: int
    reservation_id: str
    request_id: str
    tool: str
    operation: str


@dataclass(frozen=True, slots=True)
class Written:
    """What the batch committed: the reservation ids whose resolution was inserted (not already
    resolved), and every touched account's balance after the batch."""

    resolved: frozenset[str]
    balances: dict[str, int]


async def write_batch(
    conn: Any,
    totals: dict[str, int],
    resolutions: Sequence[Resolution],
    reserves: Sequence[Reserve],
    *,
    now: datetime,
    instance_id: str | None,
    audits: Sequence[Mapping[str, Any]] = (),
) -> Written | None:
    """Commit the batch on `conn` (an `asyncpg.Connection` outside any transaction) in one round
    trip. `totals`: every touched account -> the sum of its reservations in this batch (0 for an
    account only resolutions touch). None when some account cannot cover all of its
    reservations or does not exist: nothing was written, run the general path. Other database
    errors propagate (the batch's outcome is then unknown to the caller, as on the general path).
    `audits`: the audit rows to commit with the resolutions (`AUDIT_COLUMNS`; `call_id` is the
    reservation's id, `credits_charged` its resolution's charge, kept only if it is inserted).
    """
    # imported here, on PostgreSQL only: ~6 MB an idle SQLite gateway does not load
    import asyncpg  # type: ignore[import-untyped]

    accounts = sorted(totals)
    try:
        rows = await conn.fetch(
            BATCH_SQL,
            accounts,
            [totals[a] for a in accounts],
            orjson.dumps(
                [
                    {
                        "account_id": r.account_id,
                        "key_id": r.key_id,
                        "kind": r.kind,
                        "amount": r.amount,
                        "charged": r.charged,
                        "reservation_id": r.reservation_id,
                    }
                    for r in resolutions
                ]
            ).decode(),
            now,
            instance_id,
            orjson.dumps(
                [
                    {
                        "account_id": r.account_id,
                        "key_id": r.key_id,
                        "amount": -r.amount,
                        "reservation_id": r.reservation_id,
                        "request_id": r.request_id,
                        "tool": r.tool,
                        "operation": r.operation,
                    }
                    for r in reserves
                ]
            ).decode(),
            len(accounts),
            orjson.dumps(list(audits)).decode(),  # `AUDIT_COLUMNS` -> value, `at` aware
        )
    except asyncpg.DivisionByZeroError:
        return None  # some account fell short: the statement was rolled back whole
    resolved = frozenset(str(row[1]) for row in rows if row[0] == "r")
    balances = {str(row[1]): int(row[2]) for row in rows if row[0] == "a"}
    return Written(resolved, balances)
