"""The audit trail: one row per event and a hash chain over the stored bytes (tamper evidence).

``h_n = SHA-256(h_prev || position || aggregate id || version || event type || canonical stored state)``
with ``h_prev`` the hash of the previous recorded position (32 zero bytes before the first).
``verify`` recomputes the chain from the event store itself and names the first position whose event
was edited, removed or inserted; ``seal`` gives the head hash to keep outside the system, and
``verify(head=...)`` checks the store against it (a chain kept only beside the data could be rewritten
together with it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.engine import Connection, Engine

from eventstore.store import LedgerStore
from ledger.values import format_rp
from projections.runner import Envelope, Projection, ProjectionRunner, insert_rows

GENESIS = bytes(32)
PAGE = 5_000


def chain_hash(previous: bytes, envelope: Envelope) -> bytes:
    e = envelope
    head = b"%d\x1f%s\x1f%d\x1f%s\x1f" % (e.position, e.originator_id.encode(), e.originator_version,
                                         e.event_type.encode())
    return hashlib.sha256(previous + head + e.state).digest()


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
    """Projection ``audit``: the trail rows with their chain hashes."""

    name = "audit"
    version = 3  # 2: position as BIGINT; 3: the position is SQLite's rowid

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
            Column("hash", String(64), nullable=False),
        )

    def apply(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        trail = self.table("audit_trail")
        last = conn.execute(select(trail.c.hash).order_by(trail.c.position.desc()).limit(1)).first()
        previous = bytes.fromhex(last[0]) if last else GENESIS
        rows = []
        summaries: dict[tuple[Any, ...], str] = {}  # a cohort payment: one summary for thousands of members
        for e in batch:
            previous = chain_hash(previous, e)
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
                         get("agreement_code") or get("claim_ref"), text, previous.hex()))
        insert_rows(conn, trail, TRAIL_COLUMNS, rows)


TRAIL_COLUMNS = ("position", "recorded_at", "effective_on", "actor", "command_id", "aggregate_id",
                 "aggregate_version", "event_type", "subject", "summary", "hash")


@dataclass(frozen=True, slots=True)
class Finding:
    position: int
    problem: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.problem}"


def _store_envelopes(runner: ProjectionRunner) -> Iterator[Envelope]:
    after = 0
    while True:
        page = runner._envelopes(after, PAGE)
        if not page:
            return
        yield from page
        after = page[-1].position


def _trail_rows(engine: Engine, trail: Table) -> Iterator[Any]:
    after = 0
    while True:
        with engine.connect() as conn:
            page = conn.execute(select(trail.c.position, trail.c.hash).where(trail.c.position > after)
                                .order_by(trail.c.position).limit(PAGE)).all()
        if not page:
            return
        yield from page
        after = page[-1].position


def position_recorded_by(store: LedgerStore, engine: Engine, as_of: datetime) -> int:
    """The last log position recorded by ``as_of`` (knowledge time), from the caught-up audit trail."""
    runner = ProjectionRunner(store, engine, AuditTrail)
    runner.catch_up()
    trail = runner.active.table("audit_trail")
    with engine.connect() as conn:
        found = conn.execute(select(func.max(trail.c.position)).where(trail.c.recorded_at <= as_of.isoformat()))
        return int(found.scalar_one() or 0)


def verify(store: LedgerStore, engine: Engine, head: str | None = None) -> dict[str, Any]:
    """Recompute the chain from the store and compare it with the trail (and with a sealed ``head``)."""
    runner = ProjectionRunner(store, engine, AuditTrail)
    trail = runner.active.table("audit_trail")
    findings: list[Finding] = []
    stored = _store_envelopes(runner)
    recorded = _trail_rows(engine, trail)
    previous = GENESIS
    checked = 0
    trail_head = None
    s = next(stored, None)
    r = next(recorded, None)
    sealed_found = head is None
    while r is not None:
        trail_head = r
        if s is None or s.position > r.position:
            findings.append(Finding(r.position, "recorded in the audit trail but missing from the event store "
                                                "(removed)"))
            r = next(recorded, None)
            continue
        if s.position < r.position:
            findings.append(Finding(s.position, "in the event store but never recorded in the audit trail "
                                                "(inserted)"))
            previous = chain_hash(previous, s)
            s = next(stored, None)
            continue
        previous = chain_hash(previous, s)
        checked += 1
        if previous.hex() != r.hash:
            findings.append(Finding(s.position, "the stored event no longer matches what was recorded (edited)"))
            previous = bytes.fromhex(r.hash)  # resynchronise: report each edit, not every later row
        if head is not None and r.hash == head:
            sealed_found = True
        s = next(stored, None)
        r = next(recorded, None)
    unaudited = 0
    while s is not None:
        unaudited += 1
        s = next(stored, None)
    if not sealed_found:
        findings.append(Finding(trail_head.position if trail_head else 0,
                                f"the sealed head {head} is not in the recomputed chain (history rewritten)"))
    findings.sort(key=lambda f: f.position)
    return {
        "ok": not findings,
        "checked": checked,
        "head_position": trail_head.position if trail_head else 0,
        "head_hash": trail_head.hash if trail_head else GENESIS.hex(),
        "unaudited_after_head": unaudited,
        "findings": [str(f) for f in findings],
        "first_problem": str(findings[0]) if findings else None,
    }


def seal(store: LedgerStore, engine: Engine) -> dict[str, Any]:
    """The trail's head (position and hash) to hand to the auditor, after catching the trail up."""
    runner = ProjectionRunner(store, engine, AuditTrail)
    runner.catch_up()
    trail = runner.active.table("audit_trail")
    with engine.connect() as conn:
        row = conn.execute(select(trail.c.position, trail.c.hash).order_by(trail.c.position.desc()).limit(1)).first()
    return {"position": row.position if row else 0, "hash": row.hash if row else GENESIS.hex()}


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
