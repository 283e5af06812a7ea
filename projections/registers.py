"""Projection ``registers``: the facts finance and auditors query — agreements, membership chains and
their payers, every member-period paid, claims — as tables next to the store.

Every row is derived from events alone; a rebuild from position 0 gives identical tables. Writes are
queued in event order and flushed with one ``executemany`` per run of identical statements, so a
month-end batch of payments costs a few statements, not one per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import Subquery

from ledger.agreement import agreement_id_for
from ledger.claim import claim_id_for
from projections.chain_counts import CHAIN_COUNT_TABLES, CHAIN_EVENTS, ChainCounter, define_chain_count_tables
from projections.paid_runs import PAID_TABLES, PaidWriter, define_paid_tables, paid_rows
from projections.runner import Envelope, Projection, insert_rows

CLUSTERED: dict[str, Any] = {"sqlite_with_rowid": False}
"""Tables keyed by text: on SQLite the rows live in their primary key's B-tree (WITHOUT ROWID), one
structure to write instead of a rowid table plus its key index."""


class Registers(Projection):
    name = "registers"
    version = 16  # 2: workforce; 3: BIGINT money and positions; 4: WITHOUT ROWID on SQLite; 5: agreement programmes;
    # 6: paid keyed by (period, member); 7: business dates of payer changes, refunds, claim steps, budgets;
    # 8: a workforce figure recorded again for the same day replaces the first; 9: paid indexed by (late, paid_on)
    # for the reports' reinstated months (projections.chain_reports); 10: paid kept as runs (projections.paid_runs);
    # 11: the runs' and payments' lookups are constraints, made with the tables (a rebuild uses them while loading);
    # 12: alike members share a run (paid_run_members); 13: a member's runs indexed by member (refunded periods);
    # 14: an agreement's legal basis (``agreement show`` reads the registers); 15: counts of the plain chains
    # (projections.chain_counts) for the members report; 16: and their shapes, for the balances' expected side

    def __init__(self, generation: int) -> None:
        super().__init__(generation)
        self._claim_ids: dict[str, str] = {}  # claim stream id → claim id (ids are uuid5 of the claim id)
        self._paid_rows: dict[str, Subquery] = {}
        t = {n: self.table(n) for n in ("agreements", "members", "spells", "segments", "claims", "workforce",
                                        "budgets", *PAID_TABLES, *CHAIN_COUNT_TABLES)}
        self.t = t
        self.sql: dict[str, Executable] = {  # built once: compiling a statement per event would dominate
            "agreement": insert(t["agreements"]),
            "agreement_update": update(t["agreements"]).where(t["agreements"].c.code == bindparam("acode")),
            "member": insert(t["members"]),
            "member_update": update(t["members"]).where(t["members"].c.member_id == bindparam("m")),
            "spell": insert(t["spells"]),
            "lapse": update(t["spells"]).where(t["spells"].c.member_id == bindparam("m"),
                                               t["spells"].c.lapsed_on.is_(None)),
            "segment": insert(t["segments"]),
            "budget": insert(t["budgets"]),
            "claim": insert(t["claims"]),
            "claim_update": update(t["claims"]).where(t["claims"].c.claim_id == bindparam("cid")),
            "workforce": insert(t["workforce"]),
        }

    def define(self, metadata: MetaData, suffix: str) -> None:
        Table(f"agreements{suffix}", metadata,
              Column("code", String(64), primary_key=True), Column("name", Text), Column("payer_id", String(64)),
              Column("payer_name", Text), Column("payer_type", String(16)), Column("fund_source", String(16)),
              Column("region_code", String(16)), Column("first_period", String(7)), Column("last_period", String(7)),
              Column("rate_rp", BigInteger), Column("budget_rp", BigInteger), Column("cadence", String(16)),
              Column("signed_on", String(10)), Column("closed", Integer, default=0), Column("programmes", String(32)),
              Column("declared_income_rp", BigInteger), Column("legal_basis", Text))
        Table(f"members{suffix}", metadata,
              Column("member_id", String(36), primary_key=True), Column("region_code", String(16)),
              Column("village_code", String(16)), Column("role", String(64)), Column("died_on", String(10)),
              Column("erased", Integer, default=0), **CLUSTERED)
        Table(f"spells{suffix}", metadata,
              Column("member_id", String(36), primary_key=True), Column("spell_no", Integer, primary_key=True),
              Column("enrolled_on", String(10)), Column("first_period", String(7)), Column("anchor_day", Integer),
              Column("region_code", String(16)), Column("village_code", String(16)), Column("role", String(64)),
              Column("declared_income_rp", Integer), Column("programmes", String(32)),
              Column("lapsed_on", String(10)), Column("lapse_reason", String(16)), **CLUSTERED)
        Table(f"segments{suffix}", metadata,
              Column("member_id", String(36), primary_key=True), Column("spell_no", Integer, primary_key=True),
              Column("from_period", String(7), primary_key=True), Column("agreement_code", String(64), index=True),
              Column("payer_id", String(64)), Column("payer_type", String(16)), Column("fund_source", String(16)),
              Column("changed_on", String(10), nullable=False), **CLUSTERED)
        # the business day a chain was enrolled under the segment's payer, or the payer change was decided
        define_paid_tables(metadata, suffix)  # every member-period paid, as runs
        define_chain_count_tables(metadata, suffix)
        Table(f"claims{suffix}", metadata,
              Column("claim_id", String(64), primary_key=True), Column("member_id", String(36)),
              Column("claim_type", String(32)), Column("agreement_code", String(64)), Column("event_date", String(10)),
              Column("submitted_on", String(10)), Column("status", String(16)), Column("amount_rp", BigInteger),
              Column("components", Text), Column("reason_code", String(40)), Column("decided_on", String(10)),
              Column("paid_on", String(10)), Column("payment_reference", String(64)),
              Column("held_on", String(10)), Column("released_on", String(10)))
        # every budget in force from a business day: the one signed, then each amendment (APBD-P)
        Table(f"budgets{suffix}", metadata,
              Column("position", BigInteger, primary_key=True, autoincrement=False),
              Column("agreement_code", String(64), nullable=False, index=True),
              Column("effective_on", String(10), nullable=False), Column("budget_rp", BigInteger, nullable=False),
              Column("reason", Text))
        Table(f"workforce{suffix}", metadata,
              Column("region_code", String(16), primary_key=True), Column("effective_on", String(10), primary_key=True),
              Column("workforce", BigInteger, nullable=False), Column("source", Text))

    # --- applying -------------------------------------------------------------------------------

    def apply(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        queue = _Queue(conn, self.sql)
        paid = PaidWriter(conn, self.t, batch)
        t = self.t
        spell_counts = self._spell_counts(conn, {e.originator_id for e in batch if e.event_type == "MemberEnrolled"})
        chains = ChainCounter(t)
        changed = {e.originator_id for e in batch if e.event_type in CHAIN_EVENTS}
        chains.before(conn, changed, (m for m in changed if spell_counts.get(m, 1) > 0))
        for e in batch:
            d, m = e.data, e.originator_id
            kind = e.event_type
            if kind == "AgreementSigned":
                queue.add("agreement", {
                    "code": d["agreement_code"], "name": d["name"], "payer_id": d["payer_id"],
                    "payer_name": d["payer_name"], "payer_type": d["payer_type"], "fund_source": d["fund_source"],
                    "region_code": d["region_code"], "first_period": d["first_period"],
                    "last_period": d["last_period"], "rate_rp": d["rate_per_member_month_rp"],
                    "budget_rp": d["budget_rp"], "cadence": d["billing_cadence"], "signed_on": d["effective_on"],
                    "closed": 0, "programmes": ",".join(d["programmes"]),
                    "declared_income_rp": d["declared_income_rp"], "legal_basis": d["legal_basis"]})
                queue.add("budget", {"position": e.position, "agreement_code": d["agreement_code"],
                                     "effective_on": d["effective_on"], "budget_rp": d["budget_rp"],
                                     "reason": "signed"})
            elif kind == "AgreementBudgetAmended":
                code = self._code(conn, queue, m)
                queue.add("agreement_update", {"acode": code, "budget_rp": d["budget_rp"]})
                queue.add("budget", {"position": e.position, "agreement_code": code, "effective_on": d["effective_on"],
                                     "budget_rp": d["budget_rp"], "reason": d["reason"]})
            elif kind == "AgreementClosed":
                queue.add("agreement_update", {"acode": self._code(conn, queue, m), "closed": 1})
            elif kind == "MemberEnrolled":
                if spell_counts[m] == 0:
                    queue.add("member", {"member_id": m, "region_code": d["region_code"],
                                         "village_code": d["village_code"], "role": d["role"], "died_on": None,
                                         "erased": 0})
                spell_counts[m] += 1
                queue.add("spell", {
                    "member_id": m, "spell_no": spell_counts[m], "enrolled_on": d["effective_on"],
                    "first_period": d["first_period"], "anchor_day": d["anchor_day"],
                    "region_code": d["region_code"], "village_code": d["village_code"], "role": d["role"],
                    "declared_income_rp": d["declared_income_rp"], "programmes": ",".join(d["programmes"]),
                    "lapsed_on": None, "lapse_reason": None})
                queue.add("segment", {
                    "member_id": m, "spell_no": spell_counts[m], "from_period": d["first_period"],
                    "agreement_code": d["agreement_code"], "payer_id": d["payer_id"], "payer_type": d["payer_type"],
                    "fund_source": d["fund_source"], "changed_on": d["effective_on"]})
            elif kind == "PayerChanged":
                queue.flush()
                spell_no = conn.execute(select(func.max(t["spells"].c.spell_no))
                                        .where(t["spells"].c.member_id == m)).scalar_one()
                queue.add("segment", {
                    "member_id": m, "spell_no": spell_no, "from_period": d["from_period"],
                    "agreement_code": d["agreement_code"], "payer_id": d["payer_id"], "payer_type": d["payer_type"],
                    "fund_source": d["fund_source"], "changed_on": d["effective_on"]})
            elif kind == "ContributionPaid":  # the bulk of any log
                paid.paid(e)
            elif kind == "CoverageLapsed":
                queue.add("lapse", {"m": m, "lapsed_on": d["effective_on"], "lapse_reason": d["reason"]})
            elif kind == "MemberDied":
                queue.add("member_update", {"m": m, "died_on": d["effective_on"]})
            elif kind == "PersonalDataErased":
                queue.add("member_update", {"m": m, "erased": 1})
            elif kind == "ContributionRefundDue":
                paid.refund(e)
            elif kind == "ClaimSubmitted":
                queue.add("claim", {
                    "claim_id": d["claim_ref"], "member_id": d["member_id"], "claim_type": d["claim_type"],
                    "agreement_code": d["agreement_code"], "event_date": d["event_date"],
                    "submitted_on": d["effective_on"], "status": "SUBMITTED", "amount_rp": 0, "components": "{}",
                    "reason_code": None, "decided_on": None, "paid_on": None, "payment_reference": None,
                    "held_on": None, "released_on": None})
            elif kind == "WorkforceRecorded":  # a second figure for the same day corrects the first
                queue.flush()
                wf = t["workforce"]
                conn.execute(delete(wf).where(wf.c.region_code == d["region_code"],
                                              wf.c.effective_on == d["effective_on"]))
                queue.add("workforce", {"region_code": d["region_code"], "effective_on": d["effective_on"],
                                        "workforce": d["workforce"], "source": d["source"]})
            elif kind in _CLAIM_UPDATES:
                queue.add("claim_update", {"cid": self._claim(conn, queue, m), **_CLAIM_UPDATES[kind](d)})
        queue.flush()
        paid.flush()
        chains.after(conn)

    def paid_rows(self, shape: str = "rows") -> Subquery:
        """Every member-period paid, one row each (``projections.paid_runs.PAID_COLUMNS``): one subquery per
        generation, so predicates on its columns refer to the same FROM."""
        if shape not in self._paid_rows:
            self._paid_rows[shape] = paid_rows(self.t, shape)
        return self._paid_rows[shape]

    def _spell_counts(self, conn: Connection, member_ids: set[str]) -> dict[str, int]:
        """How many chains each member already has (one query per 500 members)."""
        counts = dict.fromkeys(member_ids, 0)
        spells = self.t["spells"]
        wanted = sorted(member_ids)
        for i in range(0, len(wanted), 500):
            query = (select(spells.c.member_id, func.count()).where(spells.c.member_id.in_(wanted[i : i + 500]))
                     .group_by(spells.c.member_id))
            for member_id, n in conn.execute(query):
                counts[member_id] = n
        return counts

    def _code(self, conn: Connection, queue: _Queue, aggregate_id: str) -> str:
        """The agreement code of an agreement stream (its id is uuid5 of the code)."""
        queue.flush()
        for (code,) in conn.execute(select(self.table("agreements").c.code)):
            if str(agreement_id_for(code)) == aggregate_id:
                return str(code)
        raise KeyError(f"agreement stream {aggregate_id} has no AgreementSigned row")

    def _claim(self, conn: Connection, queue: _Queue, aggregate_id: str) -> str:
        cached = self._claim_ids.get(aggregate_id)
        if cached is not None:
            return cached
        queue.flush()
        for (claim_id,) in conn.execute(select(self.table("claims").c.claim_id)):
            self._claim_ids[str(claim_id_for(claim_id))] = claim_id
        return self._claim_ids[aggregate_id]


_CLAIM_UPDATES: dict[str, Any] = {
    "ClaimHeld": lambda d: {"status": "HELD", "held_on": d["effective_on"]},
    "ClaimReleased": lambda d: {"status": "SUBMITTED", "released_on": d["effective_on"]},
    "ClaimApproved": lambda d: {"status": "APPROVED", "amount_rp": d["amount_rp"], "decided_on": d["effective_on"],
                                "components": orjson.dumps(d["components"], option=orjson.OPT_SORT_KEYS).decode()},
    "ClaimRejected": lambda d: {"status": "REJECTED", "reason_code": d["reason_code"], "decided_on": d["effective_on"]},
    "ClaimPaid": lambda d: {"status": "PAID", "paid_on": d["effective_on"],
                            "payment_reference": d["payment_reference"]},
}


STATEMENT_TABLE = {
    "agreement": "agreements", "agreement_update": "agreements", "member": "members", "member_update": "members",
    "spell": "spells", "lapse": "spells", "segment": "segments",
    "claim": "claims", "claim_update": "claims", "workforce": "workforce", "budget": "budgets",
}


class _Queue:
    """Statements in event order, batched: each statement's rows go out in one ``executemany``.

    Rows for different tables commute, so they accumulate side by side; a statement on a table that already
    has rows pending under another statement or other columns (an update after an insert, a payment after an
    approval) flushes everything first, which keeps the order that matters.
    """

    def __init__(self, conn: Connection, statements: dict[str, Executable]) -> None:
        self.conn = conn
        self.statements = statements
        self.pending: dict[tuple[str, ...], list[Any]] = {}
        self.key_of: dict[str, tuple[str, ...]] = {}

    def add(self, name: str, params: dict[str, Any]) -> None:
        # one statement with one set of parameter names (dicts keep insertion order)
        self._append((name, *params), params)

    def _append(self, key: tuple[str, ...], row: Any) -> None:
        table = STATEMENT_TABLE[key[0]]
        if self.key_of.get(table, key) != key:  # another statement (or other columns) on this table: keep order
            self.flush()
        self.key_of[table] = key
        rows = self.pending.get(key)
        if rows is None:
            rows = self.pending[key] = []
        rows.append(row)

    def flush(self) -> None:
        for key, rows in self.pending.items():
            statement = self.statements[key[0]]
            if isinstance(statement, Insert):  # new rows: at the driver's speed (COPY on PostgreSQL)
                values = rows if isinstance(rows[0], tuple) else [tuple(r.values()) for r in rows]
                insert_rows(self.conn, statement.table, key[1:], values)
            else:
                self.conn.execute(statement, rows)
        self.pending = {}
        self.key_of = {}
