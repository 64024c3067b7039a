"""Realistic analytical queries over the warehouse's allowed columns, with their answers computed
in Python from the seeded rows (warehouse.py). A query is a string, or a function of the dialect
for the few spellings that differ (string aggregation, date formatting)."""

from __future__ import annotations

import decimal
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from tests.upstream.sql.warehouse import CUSTOMERS, ORDERS

Query = str | Callable[[str], str]
Rows = list[list[Any]]

BY_ID = {c.id: c for c in CUSTOMERS}


def normalise(rows: Rows) -> Rows:
    """Rows with numbers as rounded floats (PostgreSQL numerics arrive as text), dates as text."""

    def one(value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float | decimal.Decimal):
            return round(float(value), 4)
        if isinstance(value, str):
            try:
                return round(float(decimal.Decimal(value)), 4)
            except decimal.InvalidOperation:
                return value
        return str(value)

    return [[one(v) for v in row] for row in rows]


def _sum_by_status() -> Rows:
    sums: dict[str, int] = defaultdict(int)
    for o in ORDERS:
        sums[o.status] += o.total
    return [[s, sums[s]] for s in sorted(sums)]


def _region_revenue() -> Rows:
    sums: dict[str, int] = defaultdict(int)
    for o in ORDERS:
        sums[BY_ID[o.customer_id].region] += o.total
    return [[r, sums[r]] for r in sorted(sums, key=lambda r: (-sums[r], r))]


def _top_customers() -> Rows:
    sums: dict[str, int] = defaultdict(int)
    for o in ORDERS:
        sums[BY_ID[o.customer_id].name] += o.total
    ranked = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[name, total] for name, total in ranked[:3]]


def _orders_per_customer_having() -> Rows:
    counts = Counter(o.customer_id for o in ORDERS)
    return [[cid, n] for cid, n in sorted(counts.items()) if n >= 5]


def _running_total() -> Rows:
    total = 0
    out: Rows = []
    for o in sorted(ORDERS, key=lambda o: o.id)[:5]:
        total += o.total
        out.append([o.id, total])
    return out


def _rank_within_customer() -> Rows:
    mine = sorted((o for o in ORDERS if o.customer_id == 1), key=lambda o: (-o.total, o.id))
    return [[o.id, i + 1] for i, o in enumerate(mine)]


def _lag() -> Rows:
    first = sorted(ORDERS, key=lambda o: o.id)[:4]
    return [[o.id, first[i - 1].total if i else None] for i, o in enumerate(first)]


def _above_average() -> Rows:
    avg = sum(o.total for o in ORDERS) / len(ORDERS)
    return [[sum(1 for o in ORDERS if o.total > avg)]]


def _customers_without_orders() -> Rows:
    ordered = {o.customer_id for o in ORDERS}
    return [[c.name] for c in CUSTOMERS if c.id not in ordered]


def _case_buckets() -> Rows:
    buckets = Counter(
        "big" if o.total >= 70 else "mid" if o.total >= 30 else "small" for o in ORDERS
    )
    return [[b, buckets[b]] for b in sorted(buckets)]


def _monthly() -> Rows:
    months = Counter(o.placed.strftime("%Y-%m") for o in ORDERS)
    return [[m, months[m]] for m in sorted(months)]


def _distinct_regions_with_paid() -> Rows:
    regions = {BY_ID[o.customer_id].region for o in ORDERS if o.status == "paid"}
    return [[r] for r in sorted(regions)]


def _string_agg(dialect: str) -> str:
    agg = (
        "string_agg(c.name, ',' ORDER BY c.name)"
        if dialect == "postgres"
        else ("group_concat(c.name, ',')")
    )
    inner = "customers c"
    if dialect == "sqlite":  # group_concat keeps the order rows arrive in
        inner = "(SELECT name, region FROM customers ORDER BY name) c"
    return f"SELECT c.region, {agg} AS names FROM {inner} GROUP BY c.region ORDER BY c.region"


def _names_by_region() -> Rows:
    names: dict[str, list[str]] = defaultdict(list)
    for c in sorted(CUSTOMERS, key=lambda c: c.name):
        names[c.region].append(c.name)
    return [[r, ",".join(names[r])] for r in sorted(names)]


def _month_format(dialect: str) -> str:
    month = "to_char(placed, 'YYYY-MM')" if dialect == "postgres" else "strftime('%Y-%m', placed)"
    return f"SELECT {month} AS m, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1"


_totals = sorted(o.total for o in ORDERS)


def _by_total(o: Any) -> tuple[int, int]:
    return (-o.total, o.id)


_t = {o.id: o.total for o in ORDERS}

CORPUS: list[tuple[Query, Rows | Callable[[], Rows]]] = [
    ("SELECT count(*) FROM orders", [[40]]),
    ("SELECT count(*) AS n FROM orders WHERE id > 10 AND total < 30",
     [[sum(1 for o in ORDERS if o.id > 10 and o.total < 30)]]),
    ("SELECT count(*) FROM orders WHERE status = 'paid' OR total > 90",
     [[sum(1 for o in ORDERS if o.status == "paid" or o.total > 90)]]),
    ("SELECT count(*) FROM orders WHERE NOT (status = 'open') AND id BETWEEN 5 AND 25",
     [[sum(1 for o in ORDERS if o.status != "open" and 5 <= o.id <= 25)]]),
    ("SELECT id FROM orders WHERE id IN (1, 2, 3) ORDER BY id DESC", [[3], [2], [1]]),
    ("SELECT name FROM customers WHERE name LIKE 'cust0%' AND region <> 'north' ORDER BY name",
     [[c.name] for c in sorted(CUSTOMERS, key=lambda c: c.name)
      if c.name.startswith("cust0") and c.region != "north"]),
    ("SELECT count(*) FROM customers WHERE region IS NOT NULL AND signup IS NOT NULL", [[12]]),
    ("SELECT count(*) FROM customers WHERE name LIKE 'cust1_' ESCAPE '!' AND name NOT LIKE '%!%%' "
     "ESCAPE '!'", [[3]]),
    ("SELECT status, sum(total) FROM orders GROUP BY status ORDER BY status", _sum_by_status),
    ("SELECT c.region, sum(o.total) AS revenue FROM orders o JOIN customers c "
     "ON c.id = o.customer_id GROUP BY c.region ORDER BY revenue DESC, c.region", _region_revenue),
    ("SELECT c.name, sum(o.total) AS spent FROM customers c INNER JOIN orders o "
     "ON o.customer_id = c.id GROUP BY c.name ORDER BY spent DESC, c.name LIMIT 3", _top_customers),
    ("SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id HAVING count(*) >= 5 "
     "ORDER BY customer_id", _orders_per_customer_having),
    ("SELECT id, sum(total) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
     "AS running FROM orders ORDER BY id LIMIT 5", _running_total),
    ("SELECT id, rank() OVER (PARTITION BY customer_id ORDER BY total DESC, id) AS r FROM orders "
     "WHERE customer_id = 1 ORDER BY r", _rank_within_customer),
    ("SELECT id, lag(total) OVER (ORDER BY id) AS prev FROM orders ORDER BY id LIMIT 4", _lag),
    ("SELECT id, row_number() OVER (ORDER BY total DESC, id) AS rn FROM orders ORDER BY rn LIMIT 2",
     lambda: [[o.id, i + 1] for i, o in enumerate(sorted(ORDERS, key=_by_total)[:2])]),
    ("SELECT count(*) FROM orders WHERE total > (SELECT avg(total) FROM orders)", _above_average),
    ("SELECT c.name FROM customers c WHERE NOT EXISTS "
     "(SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY c.name",
     _customers_without_orders),
    ("SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders) ORDER BY name",
     _customers_without_orders),
    ("SELECT c.name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n "
     "FROM customers c WHERE c.id = 1",
     [["cust01", sum(1 for o in ORDERS if o.customer_id == 1)]]),
    ("WITH spend AS (SELECT customer_id, sum(total) AS s FROM orders GROUP BY customer_id) "
     "SELECT max(s) FROM spend",
     lambda: [[max(sum(o.total for o in ORDERS if o.customer_id == c) for c in range(1, 11))]]),
    ("WITH paid AS (SELECT * FROM orders WHERE status = 'paid'), big AS "
     "(SELECT id FROM paid WHERE total > 50) SELECT count(*) FROM big",
     [[sum(1 for o in ORDERS if o.status == "paid" and o.total > 50)]]),
    ("SELECT CASE WHEN total >= 70 THEN 'big' WHEN total >= 30 THEN 'mid' ELSE 'small' END AS b, "
     "count(*) FROM orders GROUP BY 1 ORDER BY 1", _case_buckets),
    ("SELECT coalesce(nullif(status, 'paid'), 'PAID') AS s FROM orders WHERE id IN (3, 4) "
     "ORDER BY id",
     [["PAID" if _s == "paid" else _s] for _s in (ORDERS[2].status, ORDERS[3].status)]),
    ("SELECT upper(name) || '/' || lower(region) AS label FROM customers WHERE id = 2",
     [["CUST02/" + CUSTOMERS[1].region]]),
    ("SELECT length(name), substr(name, 1, 4), replace(name, 'cust', 'c'), trim('  x  ') "
     "FROM customers WHERE id = 3", [[6, "cust", "c03", "x"]]),
    ("SELECT abs(-5), round(7.25, 1), 17 % 5, min(total), max(total) FROM orders",
     [[5, 7.3, 2, _totals[0], _totals[-1]]]),
    ("SELECT DISTINCT c.region FROM customers c JOIN orders o ON o.customer_id = c.id "
     "WHERE o.status = 'paid' ORDER BY c.region", _distinct_regions_with_paid),
    ("SELECT count(DISTINCT customer_id) FROM orders", [[10]]),
    ("SELECT id FROM orders WHERE id < 3 UNION SELECT id FROM customers WHERE id > 11 ORDER BY 1",
     [[1], [2], [12]]),
    ("SELECT id FROM orders WHERE id <= 3 UNION ALL SELECT id FROM orders WHERE id <= 2 ORDER BY 1",
     [[1], [1], [2], [2], [3]]),
    ("SELECT id FROM orders WHERE id <= 5 EXCEPT SELECT id FROM customers WHERE id <= 2 ORDER BY 1",
     [[3], [4], [5]]),
    ("SELECT id FROM orders ORDER BY id LIMIT 3 OFFSET 5", [[6], [7], [8]]),
    ("SELECT * FROM customers WHERE id = 1",
     [[1, "cust01", CUSTOMERS[0].region, CUSTOMERS[0].signup.isoformat()]]),
    ("SELECT o.*, c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
     "WHERE o.id = 1",
     [[1, ORDERS[0].customer_id, ORDERS[0].total, ORDERS[0].status, ORDERS[0].placed.isoformat(),
       BY_ID[ORDERS[0].customer_id].name]]),
    ("SELECT t.status, t.n FROM (SELECT status, count(*) AS n FROM orders GROUP BY status) t "
     "WHERE t.n > 1 ORDER BY t.status",
     lambda: [[s, n] for s, n in sorted(Counter(o.status for o in ORDERS).items())]),
    ("SELECT count(*) FROM orders WHERE placed >= '2025-03-01' AND placed < '2025-04-01'",
     [[sum(1 for o in ORDERS if o.placed.month == 3)]]),
    (_month_format, _monthly),
    (_string_agg, _names_by_region),
    ("SELECT greatest(1, 5, 3), least(4, 2), count(*) FILTER (WHERE total > 50) FROM orders",
     [[5, 2, sum(1 for o in ORDERS if o.total > 50)]]),
    (lambda d: f"SELECT c.id FROM customers c WHERE c.id {'= ANY' if d == 'postgres' else 'IN'} "
     "(SELECT o.customer_id FROM orders o WHERE o.total > 95) ORDER BY c.id",
     [[i] for i in sorted({o.customer_id for o in ORDERS if o.total > 95})]),
]  # fmt: skip
