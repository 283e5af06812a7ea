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

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from eventstore.store import LedgerStore
from ledger.errors import InvalidInput
from ledger.values import Period
from projections.audit import AuditTrail
from projections.chain_audit import verify
from projections.facts import registers_for
from projections.register_reports import MONEY_REPORTS as MONEY_REPORTS  # re-exported, as the names below
from projections.register_reports import REPORT_DESCRIPTIONS as REPORT_DESCRIPTIONS
from projections.register_reports import REPORTS as REPORTS
from projections.register_reports import Report as Report
from projections.register_reports import check_as_of as _check_as_of
from projections.register_reports import claims_report as claims_report
from projections.register_reports import registers_report
from projections.register_reports import report_day as report_day
from projections.register_reports import report_document as _report
from projections.register_reports import report_section as _section
from projections.runner import ProjectionRunner, views_engine


def audit_report(store: LedgerStore, as_of: datetime | None) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The audit trail's verification and its events per type (recorded by ``as_of``)."""
    engine = views_engine(store)
    audit = ProjectionRunner(store, engine, AuditTrail)
    audit.catch_up()
    result = verify(store)
    facts = audit.active.table("audit_facts")  # each fact counts its events: no pass over every event
    query = (select(facts.c.event_type, func.sum(facts.c.events), func.max(facts.c.last_position))
             .group_by(facts.c.event_type))
    if as_of is not None:
        query = query.where(facts.c.recorded_at <= as_of.isoformat())
    with engine.connect() as conn:
        counts = sorted((str(t), int(n), int(p)) for t, n, p in conn.execute(query))
    sections = {
        "by_event_type": _section(["event_type", "events", "last_position"], [list(c) for c in counts]),
        "findings": _section(["finding"], [[f] for f in result["findings"]]),
    }
    totals = {"events": sum(c[1] for c in counts), "chain_ok": result["ok"], "head_position": result["head_position"],
              "head_hash": result["head_hash"]}
    return sections, totals, int(result["head_position"])


def access_report(store: LedgerStore, as_of: datetime | None) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Every read of personal data in clear (:func:`projections.access.access_log`)."""
    from projections.access import access_log

    rows = access_log(store, as_of)
    columns = ["recorded_at", "on", "principal", "member_id", "purpose", "face", "command_id"]
    section = _section(columns, [[r[c] for c in columns] for r in rows])
    totals = {"reads": len(rows), "principals": len({r["principal"] for r in rows}),
              "members": len({r["member_id"] for r in rows})}
    return {"access": section}, totals, store.max_notification_id()


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
    return registers_report(name, on, as_of, now, agreement, period, lambda: registers_for(store, as_of))


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
