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
from ledger.billing import expected_spell, monthly_rate_rp
from ledger.business_time import BusinessDay, business_day, known_region
from ledger.coverage import Segment, Spell
from ledger.errors import InvalidInput, NotFound
from ledger.values import PayerType, Period, Programme, period_range
from projections.audit import AuditTrail
from projections.chain_audit import verify
from projections.claim_register import claim_register
from projections.facts import Facts, register_rows, registers_for
from projections.member_months import active_by_month
from projections.registers import PROGRAMME_OF_COMPONENT
from projections.runner import ProjectionRunner, views_engine

Report = dict[str, Any]
CLAIM_PROGRAMME = {"JKM_DEATH": "JKM", "SCHOLARSHIP": "JKM"}


def _section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


def members_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chains per agreement (enrolled under it, taken over by it from another payer, active, lapsed), active
    members per region, role and village, enrolments, lapses and reinstated months per month, and the chains
    active at each month's end per agreement (:mod:`projections.member_months`).

    Invariant: the ``enrolled`` column sums to the ``enrolments`` of ``by_month`` (a chain is enrolled under
    exactly one payer, the one of its first segment)."""
    day = on.isoformat()
    per_agreement: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    by_village: Counter[str] = Counter()
    monthly: dict[str, Counter[str]] = defaultdict(Counter)
    active_people: set[str] = set()
    for spell in facts.spells:
        segs = facts.segments[(spell["member_id"], spell["spell_no"])]
        per_agreement[segs[0]["agreement_code"] or "SELF"]["enrolled"] += 1
        for seg in segs[1:]:
            per_agreement[seg["agreement_code"] or "SELF"]["taken_over"] += 1
        monthly[spell["enrolled_on"][:7]]["enrolments"] += 1
        if spell["lapsed_on"] is not None:
            last_covered = str(Period.containing(date.fromisoformat(spell["lapsed_on"]), spell["anchor_day"]) - 1)
            code = facts.segment(spell, last_covered)["agreement_code"] or "SELF"
            per_agreement[code][f"lapsed_{spell['lapse_reason'].lower()}"] += 1
            monthly[spell["lapsed_on"][:7]][f"lapses_{spell['lapse_reason'].lower()}"] += 1
        if facts.active_on(spell, day):
            code = facts.segment(spell, facts.period_of(spell, on))["agreement_code"] or "SELF"
            per_agreement[code]["active"] += 1
            by_region[spell["region_code"]] += 1
            by_role[spell["role"]] += 1
            if spell["village_code"]:
                by_village[spell["village_code"]] += 1
            active_people.add(spell["member_id"])
    for p in facts.paid:
        if p["late"]:
            monthly[p["paid_on"][:7]]["reinstated_months"] += 1
    died = sum(1 for m in facts.members.values() if m["died_on"] is not None)
    sections = {
        "by_agreement": _section(
            ["agreement", "enrolled", "taken_over", "active", "lapsed_arrears", "lapsed_funding_ended"],
            [[code, c["enrolled"], c["taken_over"], c["active"], c["lapsed_arrears"], c["lapsed_funding_ended"]]
             for code, c in sorted(per_agreement.items())]),
        "by_region": _section(["region", "active"], [[k, v] for k, v in sorted(by_region.items())]),
        "by_role": _section(["role", "active"], [[k, v] for k, v in sorted(by_role.items())]),
        "by_village": _section(["village", "active"], [[k, v] for k, v in sorted(by_village.items())]),
        "by_month": _section(
            ["month", "enrolments", "lapses_arrears", "lapses_funding_ended", "reinstated_months"],
            [[k, c["enrolments"], c["lapses_arrears"], c["lapses_funding_ended"], c["reinstated_months"]]
             for k, c in sorted(monthly.items())]),
        "active_by_month": active_by_month(facts, on),
    }
    return sections, {"active_members": len(active_people), "enrolled_chains": len(facts.spells), "died": died}


SELF = "SELF"
"""Self-paying members: one row for all of them (their payer ids are per member)."""


def _tariff(spell: dict[str, Any], period: Period, payer_type: str) -> int:
    programmes = [Programme(p) for p in (spell["programmes"] or "JKK,JKM").split(",")]
    rates = monthly_rate_rp(period, programmes, spell["declared_income_rp"] or 1_000_000, PayerType(payer_type),
                            spell["role"], spell["anchor_day"])
    return sum(rates.values())


def _chain(facts: Facts, spell: dict[str, Any]) -> Spell:
    segments = [Segment.model_construct(from_period=s["from_period"], agreement_code=s["agreement_code"],
                                        payer_id=s["payer_id"], payer_type=PayerType(s["payer_type"]),
                                        fund_source=s["fund_source"])
                for s in facts.segments[(spell["member_id"], spell["spell_no"])]]
    return Spell.model_construct(
        enrolled_on=date.fromisoformat(spell["enrolled_on"]), anchor_day=spell["anchor_day"],
        first_period=spell["first_period"], segments=segments,
        lapsed_on=date.fromisoformat(spell["lapsed_on"]) if spell["lapsed_on"] else None,
        lapse_reason=spell["lapse_reason"])


def expected_cells(facts: Facts, on: date) -> tuple[dict[tuple[str, str], list[int]], dict[str, set[str]]]:
    """Members expected per (agreement or SELF, period) and their cost, for every period begun by ``on``:
    the one rule of ``ledger.billing.expected_spell``, over the chains as they stood on ``on``."""
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    member_expected: dict[str, set[str]] = defaultdict(set)
    by_member: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for spell in facts.spells:
        by_member[spell["member_id"]].append(spell)
    for member_id, rows in by_member.items():
        chains = [_chain(facts, row) for row in rows]
        row_of = {id(chain): row for chain, row in zip(chains, rows, strict=True)}
        died_text = facts.members[member_id]["died_on"]
        died = date.fromisoformat(died_text) if died_text else None
        for chain in chains:
            codes = {seg.agreement_code for seg in chain.segments}
            for code in codes:
                if code is not None and code not in facts.agreements:
                    continue
                first, last = Period.parse(chain.first_period), Period.containing(on, chain.anchor_day)
                if code is not None:
                    window = facts.agreements[code]
                    first = max(first, Period.parse(window["first_period"]))
                    last = min(last, Period.parse(window["last_period"]))
                for period in period_range(first, last):
                    found = expected_spell(chains, died, code, period)
                    if found is not chain:
                        continue
                    row = row_of[id(found)]
                    cell = expected[(code or SELF, str(period))]
                    member_expected[member_id].add(str(period))
                    cell[0] += 1
                    cell[1] += _tariff(row, period, found.segment_for(period).payer_type)
    return expected, member_expected


def balances_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per agreement (and SELF) × period: members expected, expected, paid, outstanding, refunds due; per payer
    and fund source; per programme fund: contributions in, claims paid out, refunds due."""
    expected, member_expected = expected_cells(facts, on)
    paid: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    by_payer: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    programme_in: Counter[str] = Counter()
    programme_refund: Counter[str] = Counter()
    for p in facts.paid:
        cell = paid[(p["agreement_code"] or SELF, p["period"])]
        refund_rp = p["amount_rp"] if p["refund_due"] else 0
        cell[0] += p["amount_rp"]
        cell[1] += refund_rp
        cell[2] += 1
        payer = by_payer[(p["payer_id"], p["fund_source"]) if p["agreement_code"] else (SELF, SELF)]
        payer[0] += p["amount_rp"]
        payer[1] += refund_rp
        for prog in ("jkk", "jkm", "jht"):
            programme_in[prog.upper()] += p[f"{prog}_rp"]
            if p["refund_due"]:
                programme_refund[prog.upper()] += p[f"{prog}_rp"]
    programme_out: Counter[str] = Counter()
    for c in facts.claims:
        if c["status"] == "PAID":
            for component, amount in json.loads(c["components"]).items():
                programme = PROGRAMME_OF_COMPONENT.get(component, CLAIM_PROGRAMME.get(c["claim_type"], "JKK"))
                programme_out[programme] += amount
    rows = []
    totals = Counter({"expected_rp": 0, "paid_rp": 0, "refunds_due_rp": 0})
    for cell_key in sorted(set(expected) | set(paid)):
        members, expected_rp = expected.get(cell_key, [0, 0])
        paid_rp, refund_rp, paid_members = paid.get(cell_key, [0, 0, 0])
        rows.append([*cell_key, members, expected_rp, paid_members, paid_rp, expected_rp - paid_rp, refund_rp])
        totals["expected_rp"] += expected_rp
        totals["paid_rp"] += paid_rp
        totals["refunds_due_rp"] += refund_rp
    sections = {
        "by_agreement_period": _section(
            ["agreement", "period", "members_expected", "expected_rp", "members_paid", "paid_rp", "outstanding_rp",
             "refunds_due_rp"], rows),
        "by_payer": _section(["payer", "fund_source", "paid_rp", "refunds_due_rp"],
                             [[k[0], k[1], v[0], v[1]] for k, v in sorted(by_payer.items())]),
        "by_programme": _section(
            ["programme", "contributions_in_rp", "claims_paid_out_rp", "refunds_due_rp"],
            [[prog, programme_in[prog], programme_out[prog], programme_refund[prog]]
             for prog in ("JKK", "JKM", "JHT")]),
    }
    if facts.scope is not None:  # one agreement: per member too (the whole ledger would be millions of rows)
        paid_periods: dict[str, set[str]] = defaultdict(set)
        for p in facts.paid:
            paid_periods[p["member_id"]].add(p["period"])
        rows_m = []
        for member_id in sorted(set(member_expected) | set(paid_periods)):
            have = paid_periods.get(member_id, set())
            rows_m.append([member_id, max(have) if have else None, len(have),
                           len(member_expected.get(member_id, set()) - have)])
        sections["by_member"] = _section(["member_id", "paid_through", "months_paid", "months_in_arrears"], rows_m)
    return sections, {**totals, "outstanding_rp": totals["expected_rp"] - totals["paid_rp"]}


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
                           (by_region, facts.members.get(c["member_id"], {}).get("region_code", "?")),
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


def coverage_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """UCJ per region: active participants (by person) ÷ the workforce in force on ``on``."""
    day = on.isoformat()
    workforce: dict[str, int] = {}
    for w in facts.workforce:
        if w["effective_on"] <= day:
            workforce[w["region_code"]] = w["workforce"]
    active: dict[str, set[str]] = defaultdict(set)
    for spell in facts.spells:
        if facts.active_on(spell, day):
            for code in workforce:
                if spell["region_code"] == code or spell["region_code"].startswith(code + "."):
                    active[code].add(spell["member_id"])
    rows = []
    for code, people in sorted(workforce.items()):
        covered = len(active[code])
        rows.append([code, covered, people, f"{covered * 100 / people:.2f}"])
    sections = {"by_region": _section(["region", "active_participants", "workforce", "ucj_pct"], rows)}
    return sections, {"regions": len(rows), "active_participants": sum(r[1] for r in rows)}


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
    facts = Facts(engine, registers, day.on)
    if agreement is not None:
        _restrict(facts, agreement)
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


def _restrict(facts: Facts, code: str) -> None:
    keep = {(s["member_id"], s["spell_no"]) for s in facts.spells
            if any(seg["agreement_code"] == code for seg in facts.segments[(s["member_id"], s["spell_no"])])}
    facts.spells = [s for s in facts.spells if (s["member_id"], s["spell_no"]) in keep]
    facts.paid = [p for p in facts.paid if p["agreement_code"] == code]
    facts.claims = [c for c in facts.claims if c["agreement_code"] == code]
    facts.agreements = {code: facts.agreements[code]}
    facts.scope = code
