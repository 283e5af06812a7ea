"""The reports over the ``registers`` read model (members, balances, claims, coverage), given the registers to read:
what :func:`projections.reports.build_report` makes of them once it has caught them up, and what the read-only
report path (``cli/light_read.py``) makes of the serving tables when they are at the log's head already.

Light: no projection runner, no event store, no write model (a test checks the import); the balances report's own
module (which needs the tariffs) is imported only when it is asked for.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine

from ledger.business_time import BusinessDay, business_day, known_region
from ledger.errors import InvalidInput, NotFound
from projections.chain_reports import coverage_report, members_report
from projections.claim_register import claim_register
from projections.facts import Facts, TableSource, register_rows, self_or_code
from projections.report_names import REPORT_DESCRIPTIONS as REPORT_DESCRIPTIONS  # re-exported

Report = dict[str, Any]


def report_section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """One section of a report: its column names and its rows."""
    return {"columns": columns, "rows": rows}


_section = report_section


def claims_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """Claims submitted by ``on``, each with its status on that day: by type and status, agreement, region and
    month of the event; amounts paid by benefit component; days from submission to payment; and the register of
    the claims themselves, without the member (:mod:`projections.claim_register`)."""
    visible = facts.claims
    by_type: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    by_agreement: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_region: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    components: Counter[str] = Counter()
    days_to_pay = []
    for c in visible:
        paid = c["status"] == "PAID"
        amount = c["amount_rp"] if paid else 0
        for table, key in ((by_type, (c["claim_type"], c["status"])), (by_agreement, self_or_code(c["agreement_code"])),
                           (by_region, c["member_region"]),
                           (by_month, c["event_date"][:7])):
            table[key][0] += 1  # type: ignore[index]
            table[key][1] += amount  # type: ignore[index]
        if paid:
            components.update(json.loads(c["components"]))
            days_to_pay.append((date.fromisoformat(c["paid_on"]) - date.fromisoformat(c["submitted_on"])).days)
    sections = {
        "by_type_status": _section(["claim_type", "status", "claims", "paid_rp"],
                                   [[k[0], k[1], v[0], v[1]] for k, v in sorted(by_type.items())]),
        "by_agreement": _section(["agreement", "claims", "paid_rp"],
                                 [[k, *v] for k, v in sorted(by_agreement.items())]),
        "by_region": _section(["region", "claims", "paid_rp"], [[k, *v] for k, v in sorted(by_region.items())]),
        "by_month": _section(["month", "claims", "paid_rp"], [[k, *v] for k, v in sorted(by_month.items())]),
        "by_component": _section(["component", "paid_rp"], [[k, v] for k, v in sorted(components.items())]),
        "register": claim_register(visible),
    }
    totals = {
        "claims": len(visible),
        "paid_claims": len(days_to_pay),
        "paid_rp": sum(v[1] for v in by_type.values()),
        "days_submission_to_payment_avg": round(sum(days_to_pay) / len(days_to_pay), 1) if days_to_pay else None,
    }
    return sections, totals


def balances_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`projections.balances.balances_report`, imported when asked for (it needs the tariffs)."""
    from projections.balances import balances_report as report

    return report(facts, on)


REPORTS: dict[str, Callable[[Facts, date], tuple[dict[str, Any], dict[str, Any]]]] = {
    "members": members_report,
    "balances": balances_report,
    "claims": claims_report,
    "coverage": coverage_report,
}

MONEY_REPORTS = ("trial-balance", "reconciliation")

def report_day(now: datetime, on: date | None, region_code: str | None) -> BusinessDay:
    """The business day a report is about: ``--on`` (refused only when the day has not begun anywhere in the
    report's scope) or today in the zone of its region (the national zone when it spans regions)."""
    return business_day(now, on, [known_region(region_code, now)], field="on", question=True)


def check_as_of(as_of: datetime | None, now: datetime) -> None:
    if as_of is not None and as_of > now:
        raise InvalidInput("as_of", f"{as_of.isoformat()} is in the future")


def report_document(name: str, day: BusinessDay, as_of: datetime | None, now: datetime, agreement: str | None,
                    position: int, sections: dict[str, Any], totals: dict[str, Any], **extra: Any) -> Report:
    return {"report": name, "on": day.on.isoformat(), "zone": day.zone,
            "as_of": as_of.isoformat() if as_of else None, "generated_at": now.isoformat(),
            "agreement": agreement, **extra, "position": position, "sections": sections, "totals": totals}


RegistersAt = Callable[[], tuple[TableSource, Engine, int]]
"""Gives the registers to report from, the engine they are read with and the log position they stand at."""


def registers_report(name: str, on: date | None, as_of: datetime | None, now: datetime, agreement: str | None,
                     period: str | None, registers_at: RegistersAt) -> Report:
    """Report ``name`` (one of :data:`REPORTS`) as the business stood on ``on`` (default: today in the scope's
    zone), from the registers ``registers_at()`` gives (asked for once the arguments are checked). ``now`` is the
    clock's instant: "today" and "the future" come from it."""
    assert name in REPORTS, name
    if period is not None:
        raise InvalidInput("period", "only the reconciliation report takes --period")
    check_as_of(as_of, now)
    if agreement is None:
        day = report_day(now, on, None)
    registers, engine, position = registers_at()
    if agreement is not None:
        signed = {a["code"]: a for a in register_rows(engine, registers, "agreements")}.get(agreement)
        if signed is None:
            raise NotFound("agreement_id", f"unknown agreement {agreement}")
        day = report_day(now, on, signed["region_code"])
        if signed["signed_on"] > day.on.isoformat():
            raise NotFound("agreement_id", f"agreement {agreement} was signed on {signed['signed_on']}, after "
                                           f"{day.on.isoformat()}")
    facts = Facts(engine, registers, day.on, agreement)
    sections, totals = REPORTS[name](facts, day.on)
    return report_document(name, day, as_of, now, agreement, position, sections, totals)
