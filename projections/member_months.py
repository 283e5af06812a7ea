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

from ledger.values import Period
from projections.facts import Facts

SELF = "SELF"
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


def _code_on(segments: list[dict[str, Any]], anchor_day: int, day: str) -> str:
    """The agreement (or SELF) paying for the period ``day`` falls in, as decided by ``day``."""
    period = str(Period.containing(date.fromisoformat(day), anchor_day))
    chosen = segments[0]
    for seg in segments:
        if seg["from_period"] <= period and seg["changed_on"] <= day:
            chosen = seg
    return chosen["agreement_code"] or SELF


def active_by_month(facts: Facts, on: date) -> dict[str, Any]:
    """The section of the module's docstring: ``month``, ``agreement``, ``active`` (chains)."""
    spells = facts.spells
    if not spells:
        return {"columns": COLUMNS, "rows": []}
    months = month_days(min(s["enrolled_on"] for s in spells)[:7], on)
    days = [d for _, d in months]
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for spell in spells:
        start = bisect_left(days, spell["enrolled_on"])  # first day counted on or after enrolment
        end = len(days)  # one past the last day counted while active
        if spell["lapsed_on"] is not None:
            end = min(end, bisect_left(days, spell["lapsed_on"]))  # active while day < lapsed_on
        died = facts.members[spell["member_id"]]["died_on"]
        if died is not None:
            end = min(end, bisect_right(days, died))  # active while day <= died_on
        segments = facts.segments[(spell["member_id"], spell["spell_no"])]
        if not segments:
            continue
        single = len(segments) == 1
        for i in range(start, end):
            code = (segments[0]["agreement_code"] or SELF) if single else _code_on(segments, spell["anchor_day"],
                                                                                 days[i])
            counts[code][i] += 1
    rows = [[month, code, counts[code][i]] for i, (month, _) in enumerate(months) for code in sorted(counts)]
    return {"columns": COLUMNS, "rows": rows}
