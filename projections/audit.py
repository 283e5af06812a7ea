"""The audit trail: per event its position, times, actor, aggregate, type and a summary without personal data (each
distinct fact held once, :class:`AuditTrail`).

It serves ``jamsos audit trail`` and the ``--as-of`` reports (the recorded time of each position). The chain
of record is not here: every event is linked into the write-time chain in the transaction that stores it
(:mod:`eventstore.chain`), and ``audit verify`` / ``seal`` / ``prove`` work on that
(:mod:`projections.chain_audit`), whether or not this projection has run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, Select, String, Table, Text, func, select
from sqlalchemy.engine import Connection, Engine

from eventstore.store import LedgerStore
from ledger.errors import InvalidInput
from ledger.values import format_rp
from projections.runner import Envelope, Projection, ProjectionRunner, insert_rows


def summary(envelope: Envelope) -> str:
    """A short description without personal data (members appear by pseudonymous id only)."""
    d = envelope.data
    t = envelope.event_type
    if t == "ContributionPaid":
        periods = d["periods"]
        span = periods[0] if len(periods) == 1 else f"{periods[0]}..{periods[-1]}"
        return f"paid {span} {format_rp(d['amount_rp'])} by {d['payer_id']} ref {d['payment_reference']}"
    if t == "MemberEnrolled":
        return f"enrolled under {d['agreement_code'] or 'self-pay'} from {d['first_period']} as {d['role']}"
    if t == "CoverageLapsed":
        return f"lapsed ({d['reason']}), last covered {d['last_covered_period'] or '-'}"
    if t == "ClaimApproved":
        parts = ", ".join(f"{k} {format_rp(v)}" for k, v in d["components"].items())
        return f"approved {format_rp(d['amount_rp'])} {parts}"
    if t == "ClaimSubmitted":
        return f"claim {d['claim_ref']} {d['claim_type']} for event on {d['effective_on']}"
    if t == "ContributionRefundDue":
        return f"refund due {format_rp(d['amount_rp'])} to {d['payer_id']} for {', '.join(d['periods'])}"
    if t == "AgreementSigned":
        return f"agreement {d['agreement_code']} {d['first_period']}..{d['last_period']} payer {d['payer_id']}"
    if t == "CommandAccepted":
        return f"command {d['command_type']}"
    keys = [k for k in ("claim_ref", "reason", "payment_reference", "budget_rp", "amount_rp") if k in d]
    return ", ".join(f"{k} {d[k]}" for k in keys)


class AuditTrail(Projection):
    """Projection ``audit``: the trail of every event of the log (no personal data), in two tables.

    ``audit_events`` holds one narrow row per event: its position, stream, version and the id of its fact.
    ``audit_facts`` holds each distinct fact once — recorded time, business date, actor, command, type, subject,
    summary — with the first and last position of its events and how many there are. The members a cohort payment
    covers share one fact per written batch, so a payment of 100,000 members adds 100,000 rows of ~four columns
    and a handful of facts, not 100,000 copies of the same text.

    Invariants: every event of the log has exactly one ``audit_events`` row; its fact's ``first_position`` ≤ its
    position ≤ ``last_position``, and ``events`` counts the rows pointing at the fact. A fact belongs to one
    applied batch (ids are given per batch, after the largest stored one), so a fact never spans two batches and
    replaying a batch after a failed one cannot reuse an id. The trail a reader sees (:data:`TRAIL_COLUMNS`, the
    ``audit_trail`` SQL view) is the join of the two.
    """

    name = "audit"
    version = 5  # 2: position as BIGINT; 3: the position is SQLite's rowid; 4: no hash (the write-time chain);
    # 5: each event's row points at its fact (recorded time, actor, command, type, subject, summary) held once

    def define(self, metadata: MetaData, suffix: str) -> None:
        position = BigInteger().with_variant(Integer, "sqlite")
        Table(
            f"audit_events{suffix}",
            metadata,
            # INTEGER on SQLite makes the position the rowid itself: no separate key index to write
            Column("position", position, primary_key=True, autoincrement=False),
            Column("aggregate_id", String(36), nullable=False, index=True),
            Column("aggregate_version", Integer, nullable=False),
            Column("fact_id", BigInteger, nullable=False),
        )
        Table(
            f"audit_facts{suffix}",
            metadata,
            Column("fact_id", position, primary_key=True, autoincrement=False),
            Column("recorded_at", String(40), nullable=False),
            Column("effective_on", String(10), nullable=False),
            Column("actor", String(128), nullable=False),
            Column("command_id", String(128), nullable=False),
            Column("event_type", String(64), nullable=False),
            Column("subject", String(64), index=True),
            Column("summary", Text, nullable=False),
            Column("first_position", BigInteger, nullable=False),
            Column("last_position", BigInteger, nullable=False),
            Column("events", Integer, nullable=False),
        )

    def apply(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        facts_table = self.table("audit_facts")
        next_id = int(conn.execute(select(func.coalesce(func.max(facts_table.c.fact_id), 0))).scalar_one()) + 1
        by_state: dict[tuple[str, bytes], list[Any]] = {}  # copied events (a cohort's members) share their bytes
        by_fact: dict[tuple[Any, ...], list[Any]] = {}
        rows = []
        for e in batch:
            fact = by_state.get((e.event_type, e.state))
            if fact is None:
                d = e.data
                get = d.get
                key = (get("recorded_at", ""), get("effective_on", ""), get("actor", ""), get("command_id", ""),
                       e.event_type, get("agreement_code") or get("claim_ref"), summary(e))
                fact = by_fact.get(key)
                if fact is None:
                    fact = by_fact[key] = [next_id, *key, e.position, e.position, 0]
                    next_id += 1
                by_state[(e.event_type, e.state)] = fact
            fact[-2] = e.position
            fact[-1] += 1
            rows.append((e.position, e.originator_id, e.originator_version, fact[0]))
        insert_rows(conn, facts_table, FACT_COLUMNS, [tuple(f) for f in by_fact.values()])
        insert_rows(conn, self.table("audit_events"), EVENT_COLUMNS, rows)


EVENT_COLUMNS = ("position", "aggregate_id", "aggregate_version", "fact_id")
FACT_COLUMNS = ("fact_id", "recorded_at", "effective_on", "actor", "command_id", "event_type", "subject", "summary",
                "first_position", "last_position", "events")
TRAIL_COLUMNS = ("position", "recorded_at", "effective_on", "actor", "command_id", "aggregate_id",
                 "aggregate_version", "event_type", "subject", "summary")


def trail_select(audit: Projection) -> Select[Any]:
    """The trail, one row per event in :data:`TRAIL_COLUMNS` (the join of events and their facts)."""
    events, facts = audit.table("audit_events"), audit.table("audit_facts")
    columns = {**{c.name: c for c in facts.c}, **{c.name: c for c in events.c}}
    return (select(*(columns[name] for name in TRAIL_COLUMNS))
            .select_from(events.join(facts, facts.c.fact_id == events.c.fact_id)))


def position_recorded_by(store: LedgerStore, engine: Engine, as_of: datetime) -> int:
    """The last log position recorded by ``as_of`` (knowledge time), from the caught-up audit trail: the largest
    last position of the facts recorded by then (every event's position is at most its fact's last one)."""
    runner = ProjectionRunner(store, engine, AuditTrail)
    runner.catch_up()
    facts = runner.active.table("audit_facts")
    with engine.connect() as conn:
        found = conn.execute(select(func.max(facts.c.last_position)).where(facts.c.recorded_at <= as_of.isoformat()))
        return int(found.scalar_one() or 0)


def trail_rows(store: LedgerStore, engine: Engine, *, aggregate_ids: Sequence[str] = (),
               subject: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    runner = ProjectionRunner(store, engine, AuditTrail)
    runner.catch_up()
    events, facts = runner.active.table("audit_events"), runner.active.table("audit_facts")
    query = trail_select(runner.active).order_by(events.c.position).limit(limit)
    if aggregate_ids:
        query = query.where(events.c.aggregate_id.in_(list(aggregate_ids)))
    if subject is not None:  # the subject's facts, then their events by position range (no index on fact_id)
        query = query.where(facts.c.subject == subject,
                            events.c.position.between(facts.c.first_position, facts.c.last_position))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def subject_trail(store: LedgerStore, engine: Engine, pepper: bytes, *, nik: str | None = None,
                  claim_id: str | None = None, agreement_id: str | None = None) -> dict[str, Any]:
    """The audit rows of exactly one member (by NIK, found by its keyed pseudonym), claim or agreement (its own
    events and those naming it): ``jamsos audit trail --json`` and ``/api/v1/audit/trail``."""
    from ledger.agreement import agreement_id_for
    from ledger.claim import claim_id_for
    from ledger.identity import member_id_for, validate_nik

    if sum(x is not None for x in (nik, claim_id, agreement_id)) != 1:
        raise InvalidInput("member", "give exactly one of member, claim or agreement")
    if nik is not None:
        ids = [str(member_id_for(pepper, validate_nik(nik)))]
        return {"rows": trail_rows(store, engine, aggregate_ids=ids)}
    if claim_id is not None:
        return {"rows": trail_rows(store, engine, aggregate_ids=[str(claim_id_for(claim_id))])}
    assert agreement_id is not None
    own = trail_rows(store, engine, aggregate_ids=[str(agreement_id_for(agreement_id))])
    return {"rows": own + trail_rows(store, engine, subject=agreement_id)}
