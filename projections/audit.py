"""The audit trail: one row per event (position, times, actor, aggregate, type, a summary without personal data).

It serves ``jamsos audit trail`` and the ``--as-of`` reports (the recorded time of each position). The chain
of record is not here: every event is linked into the write-time chain in the transaction that stores it
(:mod:`eventstore.chain`), and ``audit verify`` / ``seal`` / ``prove`` work on that
(:mod:`projections.chain_audit`), whether or not this projection has run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, func, select
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
    """Projection ``audit``: one trail row per event of the log, keyed by its position (no personal data)."""

    name = "audit"
    version = 4  # 2: position as BIGINT; 3: the position is SQLite's rowid; 4: no hash (the write-time chain)

    def define(self, metadata: MetaData, suffix: str) -> None:
        Table(
            f"audit_trail{suffix}",
            metadata,
            # INTEGER on SQLite makes the position the rowid itself: no separate key index to write
            Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
            Column("recorded_at", String(40), nullable=False),
            Column("effective_on", String(10), nullable=False),
            Column("actor", String(128), nullable=False),
            Column("command_id", String(128), nullable=False),
            Column("aggregate_id", String(36), nullable=False, index=True),
            Column("aggregate_version", Integer, nullable=False),
            Column("event_type", String(64), nullable=False),
            Column("subject", String(64), index=True),
            Column("summary", Text, nullable=False),
        )

    def apply(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        trail = self.table("audit_trail")
        rows = []
        summaries: dict[tuple[Any, ...], str] = {}  # a cohort payment: one summary for thousands of members
        for e in batch:
            d = e.data
            get = d.get
            if e.event_type == "ContributionPaid":
                key = (d["payment_reference"], d["amount_rp"], d["payer_id"], *d["periods"])
                text = summaries.get(key)
                if text is None:
                    text = summaries[key] = summary(e)
            else:
                text = summary(e)
            rows.append((e.position, get("recorded_at", ""), get("effective_on", ""), get("actor", ""),
                         get("command_id", ""), e.originator_id, e.originator_version, e.event_type,
                         get("agreement_code") or get("claim_ref"), text))
        insert_rows(conn, trail, TRAIL_COLUMNS, rows)


TRAIL_COLUMNS = ("position", "recorded_at", "effective_on", "actor", "command_id", "aggregate_id",
                 "aggregate_version", "event_type", "subject", "summary")


def position_recorded_by(store: LedgerStore, engine: Engine, as_of: datetime) -> int:
    """The last log position recorded by ``as_of`` (knowledge time), from the caught-up audit trail."""
    runner = ProjectionRunner(store, engine, AuditTrail)
    runner.catch_up()
    trail = runner.active.table("audit_trail")
    with engine.connect() as conn:
        found = conn.execute(select(func.max(trail.c.position)).where(trail.c.recorded_at <= as_of.isoformat()))
        return int(found.scalar_one() or 0)


def trail_rows(store: LedgerStore, engine: Engine, *, aggregate_ids: Sequence[str] = (),
               subject: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    runner = ProjectionRunner(store, engine, AuditTrail)
    runner.catch_up()
    trail = runner.active.table("audit_trail")
    query = select(trail).order_by(trail.c.position).limit(limit)
    if aggregate_ids:
        query = query.where(trail.c.aggregate_id.in_(list(aggregate_ids)))
    if subject is not None:
        query = query.where(trail.c.subject == subject)
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
