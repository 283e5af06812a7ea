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
from sqlalchemy.engine import Engine

from eventstore.store import LedgerStore
from ledger.errors import InvalidInput, NotFound
from ledger.tariff import tariff_in_force
from ledger.values import PayerType, Period, Programme
from projections.audit import AuditTrail, position_recorded_by, verify
from projections.registers import PROGRAMME_OF_COMPONENT, Registers
from projections.runner import ProjectionRunner, memory_views_engine, views_engine

Report = dict[str, Any]
CLAIM_PROGRAMME = {"JKM_DEATH": "JKM", "SCHOLARSHIP": "JKM"}


def registers_for(store: LedgerStore, as_of: datetime | None) -> tuple[Registers, Engine, int]:
    """The registers to report from: caught up now, or rebuilt in memory up to the ``as_of`` position."""
    engine = views_engine(store)
    if as_of is None:
        runner = ProjectionRunner(store, engine, Registers)
        runner.catch_up()
        return runner.active, engine, runner.status()["position"]  # type: ignore[return-value]
    position = position_recorded_by(store, engine, as_of)
    memory = memory_views_engine()
    runner = ProjectionRunner(store, memory, Registers)
    runner.catch_up(until=position)
    return runner.active, memory, position  # type: ignore[return-value]


def _rows(engine: Engine, registers: Registers, table: str) -> list[dict[str, Any]]:
    t = registers.table(table)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t))]


class Facts:
    """The registers loaded once, with the business-time questions every report asks."""

    def __init__(self, engine: Engine, registers: Registers) -> None:
        self.agreements = {a["code"]: a for a in _rows(engine, registers, "agreements")}
        self.members = {m["member_id"]: m for m in _rows(engine, registers, "members")}
        self.spells = sorted(_rows(engine, registers, "spells"), key=lambda s: (s["member_id"], s["spell_no"]))
        segments: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for seg in sorted(_rows(engine, registers, "segments"), key=lambda s: s["from_period"]):
            segments[(seg["member_id"], seg["spell_no"])].append(seg)
        self.segments = segments
        self.paid = _rows(engine, registers, "paid")
        self.claims = sorted(_rows(engine, registers, "claims"), key=lambda c: c["claim_id"])
        self.scope: str | None = None
        """The one agreement this report is restricted to, if any."""
        self.workforce = sorted(_rows(engine, registers, "workforce"), key=lambda w: (w["region_code"],
                                                                                      w["effective_on"]))

    def segment(self, spell: dict[str, Any], period: str) -> dict[str, Any]:
        chosen = None
        for seg in self.segments[(spell["member_id"], spell["spell_no"])]:
            if seg["from_period"] <= period:
                chosen = seg
        return chosen or self.segments[(spell["member_id"], spell["spell_no"])][0]

    def active_on(self, spell: dict[str, Any], day: str) -> bool:
        died = self.members[spell["member_id"]]["died_on"]
        return (spell["enrolled_on"] <= day and (spell["lapsed_on"] is None or day < spell["lapsed_on"])
                and (died is None or day <= died))

    def period_of(self, spell: dict[str, Any], day: date) -> str:
        return str(Period.containing(day, spell["anchor_day"]))


def _section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


def members_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    day = on.isoformat()
    per_agreement: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    by_village: Counter[str] = Counter()
    monthly: dict[str, Counter[str]] = defaultdict(Counter)
    active_people: set[str] = set()
    for spell in facts.spells:
        segs = facts.segments[(spell["member_id"], spell["spell_no"])]
        codes = {s["agreement_code"] or "SELF" for s in segs}
        for code in codes:
            per_agreement[code]["enrolled"] += 1
        month = spell["enrolled_on"][:7]
        if spell["enrolled_on"] <= day:
            monthly[month]["enrolments"] += 1
        if spell["lapsed_on"] is not None and spell["lapsed_on"] <= day:
            last = segs[-1]["agreement_code"] or "SELF"
            per_agreement[last][f"lapsed_{spell['lapse_reason'].lower()}"] += 1
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
        if p["late"] and p["paid_on"] <= day:
            monthly[p["paid_on"][:7]]["reinstated_months"] += 1
    died = sum(1 for m in facts.members.values() if m["died_on"] is not None and m["died_on"] <= day)
    sections = {
        "by_agreement": _section(
            ["agreement", "enrolled", "active", "lapsed_arrears", "lapsed_funding_ended"],
            [[code, c["enrolled"], c["active"], c["lapsed_arrears"], c["lapsed_funding_ended"]]
             for code, c in sorted(per_agreement.items())]),
        "by_region": _section(["region", "active"], [[k, v] for k, v in sorted(by_region.items())]),
        "by_role": _section(["role", "active"], [[k, v] for k, v in sorted(by_role.items())]),
        "by_village": _section(["village", "active"], [[k, v] for k, v in sorted(by_village.items())]),
        "by_month": _section(
            ["month", "enrolments", "lapses_arrears", "lapses_funding_ended", "reinstated_months"],
            [[k, c["enrolments"], c["lapses_arrears"], c["lapses_funding_ended"], c["reinstated_months"]]
             for k, c in sorted(monthly.items())]),
    }
    return sections, {"active_members": len(active_people), "died": died}


def _tariff(spell: dict[str, Any], period: str, payer_type: str) -> int:
    programmes = {Programme(p) for p in (spell["programmes"] or "JKK,JKM").split(",")}
    rates = tariff_in_force(Period.parse(period).start(spell["anchor_day"])).monthly_rp(
        programmes, spell["declared_income_rp"] or 1_000_000, PayerType(payer_type), spell["role"])
    return sum(rates.values())


def balances_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    day = on.isoformat()
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    member_expected: dict[str, set[str]] = defaultdict(set)
    for spell in facts.spells:
        died = facts.members[spell["member_id"]]["died_on"]
        first = Period.parse(spell["first_period"])
        for seg in facts.segments[(spell["member_id"], spell["spell_no"])]:
            code = seg["agreement_code"]
            if code is None or code not in facts.agreements:
                continue
            a = facts.agreements[code]
            period = max(first, Period.parse(seg["from_period"]), Period.parse(a["first_period"]))
            last = min(Period.parse(a["last_period"]), Period.containing(on, spell["anchor_day"]))
            while period <= last:
                key = str(period)
                start = period.start(spell["anchor_day"]).isoformat()
                if facts.segment(spell, key)["agreement_code"] != code:
                    break
                if (spell["lapsed_on"] is not None and spell["lapsed_on"] <= start) or (died and died < start):
                    break
                cell = expected[(code, key)]
                member_expected[spell["member_id"]].add(key)
                cell[0] += 1
                cell[1] += _tariff(spell, key, seg["payer_type"])
                period = period + 1
    paid: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    by_payer: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    programme_in: Counter[str] = Counter()
    programme_refund: Counter[str] = Counter()
    for p in facts.paid:
        if p["paid_on"] > day or p["agreement_code"] is None:
            continue
        cell = paid[(p["agreement_code"], p["period"])]
        cell[0] += p["amount_rp"]
        cell[1] += p["amount_rp"] if p["refund_due"] else 0
        cell[2] += 1
        payer = by_payer[(p["payer_id"], p["fund_source"])]
        payer[0] += p["amount_rp"]
        payer[1] += p["amount_rp"] if p["refund_due"] else 0
        for prog in ("jkk", "jkm", "jht"):
            programme_in[prog.upper()] += p[f"{prog}_rp"]
            if p["refund_due"]:
                programme_refund[prog.upper()] += p[f"{prog}_rp"]
    programme_out: Counter[str] = Counter()
    for c in facts.claims:
        if c["status"] == "PAID" and c["paid_on"] <= day:
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
            if p["paid_on"] <= day:
                paid_periods[p["member_id"]].add(p["period"])
        rows_m = []
        for member_id in sorted(set(member_expected) | set(paid_periods)):
            have = paid_periods.get(member_id, set())
            rows_m.append([member_id, max(have) if have else None, len(have),
                           len(member_expected.get(member_id, set()) - have)])
        sections["by_member"] = _section(["member_id", "paid_through", "months_paid", "months_in_arrears"], rows_m)
    return sections, {**totals, "outstanding_rp": totals["expected_rp"] - totals["paid_rp"]}


def claims_report(facts: Facts, on: date) -> tuple[dict[str, Any], dict[str, Any]]:
    day = on.isoformat()
    visible = [c for c in facts.claims if c["submitted_on"] <= day]
    by_type: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    by_agreement: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_region: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    components: Counter[str] = Counter()
    days_to_pay = []
    for c in visible:
        paid = c["status"] == "PAID" and c["paid_on"] <= day
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
    result = verify(store, engine)
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


def build_report(store: LedgerStore, name: str, on: date, as_of: datetime | None, now: datetime,
                 agreement: str | None = None, period: str | None = None) -> Report:
    if name in MONEY_REPORTS:
        return money_report(store, name, on, as_of, now, agreement, period)
    if name == "audit":
        sections, totals, position = audit_report(store, as_of)
        return {"report": name, "on": on.isoformat(), "as_of": as_of.isoformat() if as_of else None,
                "generated_at": now.isoformat(), "agreement": None, "position": position, "sections": sections,
                "totals": totals}
    if name not in REPORTS:
        known = ", ".join(sorted([*REPORTS, *MONEY_REPORTS, "audit"]))
        raise InvalidInput("report", f"unknown report {name!r}; known: {known}")
    if as_of is not None and as_of > now:
        raise InvalidInput("as_of", f"{as_of.isoformat()} is in the future")
    if on > now.date():
        raise InvalidInput("on", f"{on.isoformat()} is in the future")
    registers, engine, position = registers_for(store, as_of)
    facts = Facts(engine, registers)
    if agreement is not None:
        if agreement not in facts.agreements:
            raise NotFound("agreement_id", f"unknown agreement {agreement}")
        _restrict(facts, agreement)
    sections, totals = REPORTS[name](facts, on)
    return {"report": name, "on": on.isoformat(), "as_of": as_of.isoformat() if as_of else None,
            "generated_at": now.isoformat(), "agreement": agreement, "position": position, "sections": sections,
            "totals": totals}


def money_report(store: LedgerStore, name: str, on: date, as_of: datetime | None, now: datetime,
                 agreement: str | None, period: str | None) -> Report:
    """``trial-balance`` (journal totals per account, entries effective by ``on``) and ``reconciliation``
    (one agreement: budget, expected, billed, paid, received per month; exceptions; refunds)."""
    from projections.money_views import MoneyViews, reconciliation_report, trial_balance

    if as_of is not None and as_of > now:
        raise InvalidInput("as_of", f"{as_of.isoformat()} is in the future")
    if on > now.date():
        raise InvalidInput("on", f"{on.isoformat()} is in the future")
    if period is not None:
        period = str(Period.parse(period, "period"))
    views = MoneyViews(store, as_of)
    if name == "trial-balance":
        sections, totals = trial_balance(views, on)
    else:
        if agreement is None:
            raise InvalidInput("agreement", "the reconciliation report is per agreement: pass --agreement ID")
        sections, totals = reconciliation_report(views, agreement, on, period)
    return {"report": name, "on": on.isoformat(), "as_of": as_of.isoformat() if as_of else None,
            "generated_at": now.isoformat(), "agreement": agreement, "period": period, "position": views.position,
            "sections": sections, "totals": totals}


def _restrict(facts: Facts, code: str) -> None:
    keep = {(s["member_id"], s["spell_no"]) for s in facts.spells
            if any(seg["agreement_code"] == code for seg in facts.segments[(s["member_id"], s["spell_no"])])}
    facts.spells = [s for s in facts.spells if (s["member_id"], s["spell_no"]) in keep]
    facts.paid = [p for p in facts.paid if p["agreement_code"] == code]
    facts.claims = [c for c in facts.claims if c["agreement_code"] == code]
    facts.agreements = {code: facts.agreements[code]}
    facts.scope = code
