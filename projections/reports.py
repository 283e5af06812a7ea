"""Reports over the ``registers`` read model, in business time (``on``) and knowledge time (``as_of``).

``on`` asks what was true on a day (who was covered, which periods up to it). ``as_of`` uses only events
*recorded* by then: the audit trail's recorded times give the last position known at that instant (the
time → position index), and the registers are rebuilt up to it in memory, so an earlier report can be
reproduced exactly after later corrections. Every figure comes from events alone.

A report is ``{"report", "on", "as_of", "generated_at", "position", "sections": {name: {"columns", "rows"}},
"totals"}`` (``generated_at``: when it was built, the recorded time it stands for without ``as_of``);
the CLI renders it as tables, JSON, CSV or an XLSX workbook (one sheet per section).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from eventstore.store import LedgerStore
from ledger.business_time import BusinessDay, business_day, known_region
from ledger.errors import InvalidInput, NotFound
from ledger.values import Period
from projections.audit import AuditTrail
from projections.balances import balances_report
from projections.chain_audit import verify
from projections.chain_reports import coverage_report, members_report
from projections.claim_register import claim_register
from projections.facts import Facts, register_rows, registers_for
from projections.runner import ProjectionRunner, views_engine

Report = dict[str, Any]


def _section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


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
        for table, key in ((by_type, (c["claim_type"], c["status"])), (by_agreement, c["agreement_code"] or "SELF"),
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


REPORTS: dict[str, Callable[[Facts, date], tuple[dict[str, Any], dict[str, Any]]]] = {
    "members": members_report,
    "balances": balances_report,
    "claims": claims_report,
    "coverage": coverage_report,
}


def audit_report(store: LedgerStore, as_of: datetime | None) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The audit trail's verification and its events per type (recorded by ``as_of``)."""
    engine = views_engine(store)
    audit = ProjectionRunner(store, engine, AuditTrail)
    audit.catch_up()
    result = verify(store)
    trail = audit.active.table("audit_trail")
    query = select(trail.c.event_type, func.count(), func.max(trail.c.position)).group_by(trail.c.event_type)
    if as_of is not None:
        query = query.where(trail.c.recorded_at <= as_of.isoformat())
    with engine.connect() as conn:
        counts = sorted((str(t), int(n), int(p)) for t, n, p in conn.execute(query))
    sections = {
        "by_event_type": _section(["event_type", "events", "last_position"], [list(c) for c in counts]),
        "findings": _section(["finding"], [[f] for f in result["findings"]]),
    }
    totals = {"events": sum(c[1] for c in counts), "chain_ok": result["ok"], "head_position": result["head_position"],
              "head_hash": result["head_hash"]}
    return sections, totals, int(result["head_position"])


MONEY_REPORTS = ("trial-balance", "reconciliation")

REPORT_DESCRIPTIONS: dict[str, str] = {
    "members": "active members per agreement, region, village and role; enrolments, lapses by reason and "
               "reinstatements per month; active members at each month's end per agreement",
    "balances": "per agreement and period: members expected, expected, paid, outstanding and refunds due; per payer "
                "and fund source; per programme fund: contributions in, claims paid out, refunds due",
    "claims": "claims by type and status, agreement, region and month; amounts by benefit component; days from "
              "submission to payment; the register of claims (no member named)",
    "coverage": "UCJ per region: active participants (by person) divided by the recorded workforce",
    "audit": "the audit trail: its hash chain verified from the store, events per type",
    "access": "the access log: every read of personal data in clear — when, by whom, which member "
              "(pseudonymous id), for what purpose (UU 27/2022)",
    "trial-balance": "journal totals per account with its sign convention (entries effective by --on)",
    "reconciliation": "one agreement (--agreement, optionally --period): budget, expected, billed, paid and "
                      "received per month, open exceptions with their age, refunds due",
}
"""Every report :func:`build_report` makes, with what it shows (``jamsos report --help`` lists them)."""


def access_report(store: LedgerStore, as_of: datetime | None) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Every read of personal data in clear (:func:`projections.access.access_log`)."""
    from projections.access import access_log

    rows = access_log(store, as_of)
    columns = ["recorded_at", "on", "principal", "member_id", "purpose", "face", "command_id"]
    section = _section(columns, [[r[c] for c in columns] for r in rows])
    totals = {"reads": len(rows), "principals": len({r["principal"] for r in rows}),
              "members": len({r["member_id"] for r in rows})}
    return {"access": section}, totals, store.max_notification_id()


def report_day(now: datetime, on: date | None, region_code: str | None) -> BusinessDay:
    """The business day a report is about: ``--on`` (refused only when the day has not begun anywhere in the
    report's scope) or today in the zone of its region (the national zone when it spans regions)."""
    return business_day(now, on, [known_region(region_code, now)], field="on", question=True)


def _check_as_of(as_of: datetime | None, now: datetime) -> None:
    if as_of is not None and as_of > now:
        raise InvalidInput("as_of", f"{as_of.isoformat()} is in the future")


def _report(name: str, day: BusinessDay, as_of: datetime | None, now: datetime, agreement: str | None,
            position: int, sections: dict[str, Any], totals: dict[str, Any], **extra: Any) -> Report:
    return {"report": name, "on": day.on.isoformat(), "zone": day.zone,
            "as_of": as_of.isoformat() if as_of else None, "generated_at": now.isoformat(),
            "agreement": agreement, **extra, "position": position, "sections": sections, "totals": totals}


def build_report(store: LedgerStore, name: str, on: date | None, as_of: datetime | None, now: datetime,
                 agreement: str | None = None, period: str | None = None) -> Report:
    """Report ``name`` as the business stood on ``on`` (default: today in the scope's zone), from the events
    recorded by ``as_of`` (default: all). ``now`` is the clock's instant: "today" and "the future" come from it."""
    if name in MONEY_REPORTS:
        return money_report(store, name, on, as_of, now, agreement, period)
    if name in ("audit", "access"):
        if agreement is not None or period is not None:
            raise InvalidInput("agreement" if agreement is not None else "period",
                               f"the {name} report covers the whole log: leave out --agreement and --period")
        day = report_day(now, on, None)
        if name == "audit":
            sections, totals, position = audit_report(store, as_of)
        else:
            sections, totals, position = access_report(store, as_of)
        return _report(name, day, as_of, now, None, position, sections, totals)
    if name not in REPORTS:
        known = ", ".join(sorted([*REPORTS, *MONEY_REPORTS, "audit", "access"]))
        raise InvalidInput("report", f"unknown report {name!r}; known: {known}")
    if period is not None:
        raise InvalidInput("period", "only the reconciliation report takes --period")
    _check_as_of(as_of, now)
    if agreement is None:
        day = report_day(now, on, None)
    registers, engine, position = registers_for(store, as_of)
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
    return _report(name, day, as_of, now, agreement, position, sections, totals)


def money_report(store: LedgerStore, name: str, on: date | None, as_of: datetime | None, now: datetime,
                 agreement: str | None, period: str | None) -> Report:
    """``trial-balance`` (journal totals per account, entries effective by ``on``) and ``reconciliation``
    (one agreement: budget, expected, billed, paid, received per month; exceptions; refunds)."""
    from projections.money_views import MoneyViews, reconciliation_report, trial_balance

    _check_as_of(as_of, now)
    if name == "reconciliation" and agreement is None:
        raise InvalidInput("agreement", "the reconciliation report is per agreement: pass --agreement ID")
    if period is not None:
        period = str(Period.parse(period, "period"))
    if agreement is None:
        day = report_day(now, on, None)
    views = MoneyViews(store, as_of)
    if name == "trial-balance":
        if agreement is not None:
            raise InvalidInput("agreement", "the trial balance is of the whole ledger: leave out --agreement")
        sections, totals = trial_balance(views, day.on)
    else:
        assert agreement is not None
        day = report_day(now, on, views.agreement(agreement)["region_code"])
        sections, totals = reconciliation_report(views, agreement, day.on, period)
    return _report(name, day, as_of, now, agreement, views.position, sections, totals, period=period)
