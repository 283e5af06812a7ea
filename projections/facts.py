"""The registers as the business stood on a day: the one place that gives ``--on`` its meaning for the registers'
reports (docs/rules.md#business-time), and the registers to read them from (now, or as of a recorded time).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from eventstore.store import LedgerStore
from ledger.agreement import budget_in_force
from ledger.values import Period
from projections.audit import position_recorded_by
from projections.registers import Registers
from projections.runner import ProjectionRunner, memory_views_engine, views_engine


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


def register_rows(engine: Engine, registers: Registers, table: str) -> list[dict[str, Any]]:
    t = registers.table(table)
    with engine.connect() as conn:
        result = conn.execute(select(t))
        keys = list(result.keys())  # once: a row's own mapping builds its key view anew for every row
        return [dict(zip(keys, row, strict=True)) for row in result]


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


def claim_on(claim: dict[str, Any], day: str) -> dict[str, Any]:
    """A claim as it stood on ``day``: its status then, and its amount only once decided by then."""
    paid, decided = _by(claim["paid_on"], day), _by(claim["decided_on"], day)
    held = _by(claim["held_on"], day) is not None and _by(claim["released_on"], day) is None
    if paid:
        status = "PAID"
    elif decided:
        status = "REJECTED" if claim["status"] == "REJECTED" else "APPROVED"
    else:
        status = "HELD" if held else "SUBMITTED"
    approved = status in ("APPROVED", "PAID")
    return {**claim, "status": status, "paid_on": paid, "decided_on": decided,
            "amount_rp": claim["amount_rp"] if approved else 0,
            "components": claim["components"] if approved else "{}",
            "reason_code": claim["reason_code"] if status == "REJECTED" else None,
            "payment_reference": claim["payment_reference"] if paid else None}
