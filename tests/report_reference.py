"""The registers' reports as they were computed before they moved to SQL (commit 7168d01): every register row
loaded into Python and filtered there. Kept as an oracle: the SQL reports must give byte-identical sections and
totals (tests/test_report_reference.py). Not used by the ledger.
"""

from __future__ import annotations

import calendar
import json
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from ledger.agreement import budget_in_force
from ledger.billing import expected_spell, monthly_rate_rp
from ledger.coverage import Segment, Spell
from ledger.journal import PROGRAMME_OF_COMPONENT
from ledger.values import PayerType, Period, Programme, period_range
from projections.claim_register import claim_register
from projections.facts import claim_on, register_rows
from projections.registers import Registers

CLAIM_PROGRAMME = {"JKM_DEATH": "JKM", "SCHOLARSHIP": "JKM"}
SELF = "SELF"
COLUMNS = ["month", "agreement", "active"]


def _section(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}

class Facts:
    """The registers as the business stood on ``on``: the one place that gives ``--on`` its meaning for the
    registers' reports (docs/rules.md#business-time).

    Only facts effective by ``on`` are kept: agreements signed, chains enrolled, payer changes decided,
    payments made, lapses and deaths effective, refunds due, claims submitted, workforce figures, by then; a
    lapse, death or claim step after ``on`` is not known to have happened. Which events the registers know at
    all (``--as-of``) is decided before, by the log position they were projected to.
    """

    def __init__(self, engine: Engine, registers: Registers, on: date) -> None:
        self.on = on
        day = self.day = on.isoformat()
        budgets: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for b in register_rows(engine, registers, "budgets"):
            budgets[b["agreement_code"]].append((b["effective_on"], b["position"], b["budget_rp"]))
        self.agreements = {a["code"]: {**a, "budget_rp": _or(budget_in_force(budgets[a["code"]], day), a["budget_rp"])}
                           for a in register_rows(engine, registers, "agreements") if a["signed_on"] <= day}
        self.members = {m["member_id"]: {**m, "died_on": _by(m["died_on"], day)}
                        for m in register_rows(engine, registers, "members")}
        self.spells = sorted(
            ({**s, "lapsed_on": _by(s["lapsed_on"], day),
              "lapse_reason": s["lapse_reason"] if _by(s["lapsed_on"], day) else None}
             for s in register_rows(engine, registers, "spells") if s["enrolled_on"] <= day),
            key=lambda s: (s["member_id"], s["spell_no"]))
        segments: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for seg in sorted(register_rows(engine, registers, "segments"),
                          key=lambda s: (s["from_period"], s["changed_on"])):
            if seg["changed_on"] <= day:
                segments[(seg["member_id"], seg["spell_no"])].append(seg)
        self.segments = segments
        self.paid = [{**p, "refund_due": int(bool(p["refund_due"]) and _by(p["refund_due_on"], day) is not None)}
                     for p in register_rows(engine, registers, "paid") if p["paid_on"] <= day]
        claims = register_rows(engine, registers, "claims")
        self.claims = sorted((claim_on(c, day) for c in claims if c["submitted_on"] <= day),
                             key=lambda c: c["claim_id"])
        self.scope: str | None = None
        """The one agreement this report is restricted to, if any."""
        self.workforce = sorted((w for w in register_rows(engine, registers, "workforce") if w["effective_on"] <= day),
                                key=lambda w: (w["region_code"], w["effective_on"]))

    def segment(self, spell: dict[str, Any], period: str) -> dict[str, Any]:
        """The payer of ``period`` in a chain, as decided by the report's day."""
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


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _by(value: str | None, day: str) -> str | None:
    """A dated fact's date if it is effective by ``day`` (ISO dates compare as text), else None."""
    return value if value is not None and value <= day else None


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


def _restrict(facts: Facts, code: str) -> None:
    keep = {(s["member_id"], s["spell_no"]) for s in facts.spells
            if any(seg["agreement_code"] == code for seg in facts.segments[(s["member_id"], s["spell_no"])])}
    facts.spells = [s for s in facts.spells if (s["member_id"], s["spell_no"]) in keep]
    facts.paid = [p for p in facts.paid if p["agreement_code"] == code]
    facts.claims = [c for c in facts.claims if c["agreement_code"] == code]
    facts.agreements = {code: facts.agreements[code]}
    facts.scope = code


REPORTS = {"members": members_report, "balances": balances_report, "claims": claims_report,
           "coverage": coverage_report}


def reference_report(engine: Engine, registers: Registers, name: str, on: date,
                     agreement: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(sections, totals)`` of report ``name`` as the code of 7168d01 computed them."""
    facts = Facts(engine, registers, on)
    if agreement is not None:
        _restrict(facts, agreement)
    return REPORTS[name](facts, on)
