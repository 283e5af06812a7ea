"""Active members at the end of each month, per agreement (the ``active_by_month`` section of the members report).

A chain counts in a month when it is active at that month's last day — or at the report's day ``on`` for the month
``on`` falls in — under the payer of the period that day falls in, as that payer was decided by that day. It is the
``active`` column of ``by_agreement`` that a members report with ``on`` = that day would give, for every month up
to ``on`` at once (the same :class:`projections.facts.Facts`, so ``as_of`` is applied as for every other figure).

Invariants:
- the row of the month of ``on`` equals ``by_agreement``'s ``active`` for the agreement;
- every agreement that has an active chain in some month has a row in every month of the range (zeros included:
  a cohort that ends shows as a drop, not as missing months);
- the months run from the first enrolment's month to the month of ``on``.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select, true

from projections.facts import Facts, counted_days, period_containing_counted

COLUMNS = ["month", "agreement", "active"]


def month_days(first_month: str, on: date) -> list[tuple[str, str]]:
    """``(YYYY-MM, the day counted)`` from ``first_month`` to ``on``'s month: each month's last day, ``on`` for the
    month of ``on``."""
    year, month = (int(x) for x in first_month.split("-"))
    out: list[tuple[str, str]] = []
    while (year, month) <= (on.year, on.month):
        last = date(year, month, calendar.monthrange(year, month)[1])
        out.append((f"{year:04d}-{month:02d}", min(last, on).isoformat()))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def active_by_month(facts: Facts, on: date, first_enrolled: str | None,
                    one_payer: list[tuple[str, str, str | None, str | None, int]]) -> dict[str, Any]:
    """The section of the module's docstring: ``month``, ``agreement``, ``active`` (chains).

    ``one_payer``: the chains enrolled by ``on`` whose payer did not change by then, grouped (in the database)
    by the days that decide their months — ``(agreement, enrolled_on, lapsed_on, died_on, chains)``, lapse and
    death as known on ``on`` — spread over the months here; a chain with a payer change is counted per month in
    the database, under the payer of the period each counted day falls in, as decided by that day. The months
    run from the month of ``first_enrolled``, the first enrolment by ``on`` (None: no chain, no rows)."""
    if first_enrolled is None:
        return {"columns": COLUMNS, "rows": []}
    months = month_days(first_enrolled[:7], on)
    with facts.engine.connect() as conn:
        days = [d for _, d in months]
        counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
        for code, enrolled_on, lapsed_on, died, n in one_payer:
            start = bisect_left(days, enrolled_on)  # first day counted on or after enrolment
            end = len(days)  # one past the last day counted while active
            if lapsed_on is not None:
                end = min(end, bisect_left(days, lapsed_on))  # active while day < lapsed_on
            if died is not None:
                end = min(end, bisect_right(days, died))  # active while day <= died_on
            for i in range(start, end):
                counts[code][i] += int(n)
        for i, code, n in conn.execute(_changed_payers(facts, months)):
            counts[code][i] += int(n)
    rows = [[month, code, counts[code][i]] for i, (month, _) in enumerate(months) for code in sorted(counts)]
    return {"columns": COLUMNS, "rows": rows}


def _changed_payers(facts: Facts, months: list[tuple[str, str]]) -> Select[Any]:
    """``(month index, agreement, chains)`` of the chains with more than one payer: each counted day joined to
    the chains active on it, under the payer of the period the day falls in (``Period.containing(day,
    anchor_day)``), as decided by the day."""
    ch = facts.chains()
    changed = select(ch).where(ch.c.changed).cte("changed_chains").prefix_with("MATERIALIZED")  # few: first
    counted = counted_days([day for _, day in months])
    period = period_containing_counted(counted, changed.c.anchor_day)
    inner = (select(counted.c.i, facts.segment_at(changed, lambda fp: fp <= period, day=counted.c.day).label("code"))
             .select_from(changed.join(counted, true()))
             .where(facts.active(changed, counted.c.day)).subquery("changed"))
    return select(*inner.c, func.count()).group_by(*inner.c)

