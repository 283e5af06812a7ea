"""Projection ``journal``: the double-entry journal of every money event (``ledger.journal.entry_for``) and
the reconciliation registers finance works from — invoices per period, statement lines and their status,
allocations of transfers to invoices, open exceptions, refunds due to payers, claims payable.

Everything here is derived from events; a rebuild from position 0 gives identical tables.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, bindparam, select, update
from sqlalchemy.engine import Connection

from ledger.journal import Entry, dated_parts, entry_for
from projections.kept_sums import add_to_sums
from projections.runner import Envelope, Projection, insert_rows

LINE_STATUS_NEW = "NEW"
REGISTER_EVENTS = frozenset({
    "InvoiceIssued", "StatementImported", "StatementLinesRecorded", "StatementLinesMatched",
    "ReconciliationExceptionsRaised", "ReconciliationExceptionResolved", "ContributionRefundDue",
    "ContributionRefundSettled", "ClaimSubmitted", "ClaimApproved", "ClaimPaid",
})
"""Events that also change the reconciliation registers (the rest only post to the journal, if at all)."""
CLUSTERED: dict[str, Any] = {"sqlite_with_rowid": False}
SHAPES_PER_QUERY_MAX = 500
FOLD_STEP_MAX = 16
"""The widest gap between two entries of one folded row (the events a cohort writes for each member)."""


ENTRY_COLUMNS = ("position", "seq", "shape", "effective_on", "decided_on", "recorded_at", "last_position", "step")


def _fold(run: list[Any], entry: list[Any]) -> bool:
    """Fold ``entry`` (a row in ``ENTRY_COLUMNS`` order: one entry, or a run of them) into ``run`` if it continues
    it: both first entries of their events with the same shape, days and recording time, and ``entry``'s
    positions the next ones at the run's step (a cohort whose every payment also reinstates the member posts at
    every other position); a run of one takes the step that joins them. Returns whether it folded."""
    if run[1] != 0 or entry[1] != 0 or run[2:6] != entry[2:6]:
        return False
    step = entry[0] - run[6]
    if not 0 < step <= FOLD_STEP_MAX:
        return False
    if (run[6] != run[0] and step != run[7]) or (entry[6] != entry[0] and step != entry[7]):
        return False  # another spacing: the positions between would not all be entries
    run[6], run[7] = entry[6], step
    return True


def _add_entry(rows: list[list[Any]], position: int, seq: int, shape: str, effective_on: str, decided_on: str,
               recorded_at: str) -> None:
    """Append an entry to ``rows``, folded into the last row when it continues that row's run."""
    entry = [position, seq, shape, effective_on, decided_on, recorded_at, position, 1]
    if not (rows and _fold(rows[-1], entry)):
        rows.append(entry)


def entry_count(entries: Any) -> Any:
    """The entries one ``journal_entries`` row stands for (an SQL expression over its table or alias)."""
    return (entries.c.last_position - entries.c.position) // entries.c.step + 1


def entry_positions(position: int, last_position: int, step: int) -> range:
    """The positions of the entries one ``journal_entries`` row stands for."""
    return range(position, last_position + 1, step)


class Journal(Projection):
    name = "journal"
    version = 9  # 2: one table of legs; 3: an entry row per event, its legs once per distinct shape;
    # 4: entries dated by the fact they record (a transfer's booking day), with the day it was decided beside;
    # 5: statement lines keep their value date beside the booking date; 6: exceptions remember being parked;
    # 8: equal entries of consecutive positions folded into one row (position .. last_position); 9: entries counted
    # per shape and day (journal_day_totals: the trial balance)

    def __init__(self, generation: int) -> None:
        super().__init__(generation)
        self._claim_types: dict[str, str] = {}
        self._statement_payers: dict[str, tuple[str, str]] = {}

    def define(self, metadata: MetaData, suffix: str) -> None:
        # one row per run of equal entries (a money event's, per booking day of its transfers) at positions
        # position, position + step, .. last_position (entry_positions), its legs by shape: a cohort payment
        # posts thousands of identical entries, one row here. effective_on: the business day of the fact (see
        # ledger.journal); decided_on: the business day of the event that recorded it (the matching run, the
        # resolution)
        Table(f"journal_entries{suffix}", metadata,
              Column("position", BigInteger, primary_key=True, autoincrement=False),
              Column("seq", Integer, primary_key=True, autoincrement=False),
              Column("shape", String(32), nullable=False),
              Column("effective_on", String(10), nullable=False), Column("decided_on", String(10), nullable=False),
              Column("recorded_at", String(40), nullable=False),
              Column("last_position", BigInteger, nullable=False), Column("step", Integer, nullable=False),
              **CLUSTERED)
        # how many entries of each shape are effective on each day: the trial balance, in as many rows as there
        # are shapes and days (projections.kept_sums)
        Table(f"journal_day_totals{suffix}", metadata,
              Column("shape", String(32), primary_key=True), Column("effective_on", String(10), primary_key=True),
              Column("entries", BigInteger, nullable=False), **CLUSTERED)
        Table(f"journal_shapes{suffix}", metadata,
              Column("shape", String(32), primary_key=True),
              Column("leg", Integer, primary_key=True, autoincrement=False),
              Column("account", String(96), nullable=False),
              Column("debit_rp", BigInteger, nullable=False), Column("credit_rp", BigInteger, nullable=False),
              Column("memo", Text), **CLUSTERED)
        Table(f"invoices{suffix}", metadata,
              Column("invoice_ref", String(96), primary_key=True), Column("agreement_code", String(64), index=True),
              Column("payer_id", String(64), index=True), Column("first_period", String(7)),
              Column("last_period", String(7)), Column("issued_on", String(10)), Column("amount_rp", BigInteger),
              Column("budget_rp", BigInteger), Column("projected_cost_rp", BigInteger),
              Column("budget_status", String(16)))
        Table(f"invoice_periods{suffix}", metadata,
              Column("invoice_ref", String(96), primary_key=True), Column("period", String(7), primary_key=True),
              Column("agreement_code", String(64), index=True), Column("members", BigInteger),
              Column("amount_rp", BigInteger))
        Table(f"statements{suffix}", metadata,
              Column("statement_id", String(64), primary_key=True), Column("aggregate_id", String(36), index=True),
              Column("payer_id", String(64)), Column("file_name", Text), Column("file_format", String(16)),
              Column("imported_on", String(10)), Column("period_start", String(10)), Column("period_end", String(10)),
              Column("line_count", BigInteger), Column("total_rp", BigInteger))
        Table(f"statement_lines{suffix}", metadata,
              Column("statement_id", String(64), primary_key=True),
              Column("line_no", BigInteger, primary_key=True, autoincrement=False),
              Column("payer_id", String(64), index=True), Column("reference", String(64)),
              Column("booked_on", String(10)), Column("amount_rp", BigInteger), Column("account", String(64)),
              Column("description", Text), Column("status", String(16), nullable=False),
              Column("value_on", String(10)))
        Table(f"allocations{suffix}", metadata,
              Column("position", BigInteger, primary_key=True, autoincrement=False),
              Column("seq", Integer, primary_key=True, autoincrement=False),
              Column("statement_id", String(64)), Column("line_no", BigInteger),
              Column("invoice_ref", String(96), index=True), Column("agreement_code", String(64)),
              Column("amount_rp", BigInteger), Column("rule", String(24)), Column("effective_on", String(10)),
              Column("decided_on", String(10)))
        # allocations: effective_on is the transfer's booking day, decided_on the day it was matched
        Table(f"exceptions{suffix}", metadata,
              Column("statement_id", String(64), primary_key=True),
              Column("line_no", BigInteger, primary_key=True, autoincrement=False),
              Column("payer_id", String(64)), Column("kind", String(24)), Column("reason", Text),
              Column("amount_rp", BigInteger), Column("candidates", Text), Column("raised_on", String(10)),
              Column("status", String(16)), Column("resolved_on", String(10)), Column("note", Text),
              Column("booked_on", String(10)), Column("parked", Integer, nullable=False, default=0))
        # every payment reference: reserved (PaymentReferenceUsed), credited under it (contributions, claim payouts,
        # refunds settled), explained by REFERENCE_SHORTFALL exceptions; in_progress while its bulk command runs
        Table(f"payment_references{suffix}", metadata,
              Column("reference", String(64), primary_key=True), Column("payer_id", String(64)),
              Column("purpose", String(24)), Column("command_id", String(128)), Column("reserved_on", String(10)),
              Column("reserved_rp", BigInteger), Column("credited_rp", BigInteger, nullable=False, default=0),
              Column("explained_rp", BigInteger, nullable=False, default=0),
              Column("in_progress", Integer, nullable=False, default=0))
        Table(f"refunds{suffix}", metadata,
              Column("claim_ref", String(64), primary_key=True), Column("payer_id", String(64), primary_key=True),
              Column("member_id", String(36)), Column("agreement_code", String(64)), Column("periods", Text),
              Column("amount_rp", BigInteger), Column("due_on", String(10)), Column("settled_on", String(10)),
              Column("payment_reference", String(64)))
        Table(f"claims_payable{suffix}", metadata,
              Column("claim_stream", String(36), primary_key=True), Column("claim_ref", String(64)),
              Column("claim_type", String(32)), Column("approved_on", String(10)), Column("amount_rp", BigInteger),
              Column("paid_on", String(10)))

    # --- applying -------------------------------------------------------------------------------

    def apply(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        rows: list[list[Any]] = []
        add = partial(_add_entry, rows)
        shapes: dict[str, Entry] = {}
        # the shapes of this batch's contributions, by every field ``entry_for`` (a pure function) reads
        shape_of: dict[tuple[Any, ...], str | None] = {}
        references: dict[str, dict[str, Any]] = {}
        for e in batch:
            d = e.data
            kind = e.event_type
            if kind == "ContributionPaid":  # the bulk of a log: a cohort payment posts one shape per member
                reference = d["payment_reference"]
                change = references.get(reference)
                if change is None:
                    change = references[reference] = {}
                change["credited_rp"] = change.get("credited_rp", 0) + d["amount_rp"]
                key = (d["agreement_code"], reference, d["amount_rp"], len(d["periods"]),
                       tuple(d["per_period_rp"].items()))
                if key in shape_of:
                    shape = shape_of[key]
                else:
                    shape = shape_of[key] = _shaped(shapes, entry_for(kind, d, no_claim))
                if shape is not None:
                    add(e.position, 0, shape, d["effective_on"], d["effective_on"], d["recorded_at"])
                continue
            if kind in REFERENCE_EVENTS:
                _reference_change(references, kind, d, e.originator_version)
            booked = self._booked_lines(conn, e) if kind in TRANSFER_EVENTS else None
            if kind in REGISTER_EVENTS:  # in event order: an entry may need what an earlier event recorded
                self._registers(conn, e, booked)
            claim_type = partial(self._claim_type, conn, e.originator_id)
            for seq, (fact_on, part) in enumerate(dated_parts(kind, d, booked)):
                shape = _shaped(shapes, entry_for(kind, part, claim_type))
                if shape is not None:
                    add(e.position, seq, shape, fact_on, d["effective_on"], d["recorded_at"])
        self._add_shapes(conn, shapes)
        self._references(conn, references)
        entries: Counter[tuple[str, str]] = Counter()
        for row in rows:
            entries[(row[2], row[3])] += len(entry_positions(row[0], row[6], row[7]))
        add_to_sums(conn, self.table("journal_day_totals"), ("shape", "effective_on"), "entries", entries)
        self._extend_last_entry(conn, rows)
        insert_rows(conn, self.table("journal_entries"), ENTRY_COLUMNS, [tuple(r) for r in rows])

    def _extend_last_entry(self, conn: Connection, rows: list[list[Any]]) -> None:
        """A batch's first run continuing the run the table ends with (a cohort payment split over batches) is
        folded into that row (asked of the table: a rolled back batch leaves no state behind)."""
        if not rows or rows[0][1] != 0:
            return
        t = self.table("journal_entries")
        last = conn.execute(select(*(t.c[c] for c in ENTRY_COLUMNS)).order_by(t.c.position.desc(), t.c.seq.desc())
                            .limit(1)).first()
        run = list(last) if last is not None else None
        if run is None or not _fold(run, rows[0]):
            return
        conn.execute(update(t).where(t.c.position == run[0], t.c.seq == 0).values(last_position=run[6], step=run[7]))
        del rows[0]

    def _booked_lines(self, conn: Connection, e: Envelope) -> dict[int, str]:
        """Line number → booking day of the statement lines an event decides on (one query per 500 lines)."""
        statement_id, _ = self._statement(conn, e.originator_id)
        d = e.data
        line_nos = sorted({x["line_no"] for x in d.get("matches") or d.get("exceptions") or [d]})
        t = self.table("statement_lines")
        out: dict[int, str] = {}
        for i in range(0, len(line_nos), SHAPES_PER_QUERY_MAX):
            out.update((int(n), str(b)) for n, b in conn.execute(
                select(t.c.line_no, t.c.booked_on).where(t.c.statement_id == statement_id,
                                                         t.c.line_no.in_(line_nos[i:i + SHAPES_PER_QUERY_MAX]))))
        return out

    def _add_shapes(self, conn: Connection, shapes: dict[str, Entry]) -> None:
        """The legs of the shapes first seen in this batch (asked of the table, not of a cache that a rolled
        back batch could leave wrong)."""
        if not shapes:
            return
        t = self.table("journal_shapes")
        wanted = list(shapes)
        known: set[str] = set()
        for i in range(0, len(wanted), SHAPES_PER_QUERY_MAX):  # under SQLite's limit on bound parameters
            known.update(conn.execute(select(t.c.shape).where(t.c.shape.in_(wanted[i:i + SHAPES_PER_QUERY_MAX]))
                                      .distinct()).scalars())
        insert_rows(conn, t, ("shape", "leg", "account", "debit_rp", "credit_rp", "memo"), [
            (shape, i, leg.account, leg.debit_rp, leg.credit_rp, entry.memo if i == 1 else None)
            for shape, entry in shapes.items() if shape not in known
            for i, leg in enumerate(entry.legs, 1)])  # the entry's memo on its first leg

    def _claim_type(self, conn: Connection, claim_stream: str) -> str:
        cached = self._claim_types.get(claim_stream)
        if cached is None:
            t = self.table("claims_payable")
            cached = str(conn.execute(select(t.c.claim_type).where(t.c.claim_stream == claim_stream)).scalar_one())
            self._claim_types[claim_stream] = cached
        return cached

    def _statement(self, conn: Connection, aggregate_id: str) -> tuple[str, str]:
        """(statement id, payer id) of a statement stream."""
        cached = self._statement_payers.get(aggregate_id)
        if cached is None:
            t = self.table("statements")
            row = conn.execute(select(t.c.statement_id, t.c.payer_id).where(t.c.aggregate_id == aggregate_id)).one()
            cached = self._statement_payers[aggregate_id] = (str(row[0]), str(row[1]))
        return cached

    def _registers(self, conn: Connection, e: Envelope, booked: dict[int, str] | None) -> None:
        d, kind = e.data, e.event_type
        on = d.get("effective_on")
        if kind == "InvoiceIssued":
            insert_rows(conn, self.table("invoices"), (
                "invoice_ref", "agreement_code", "payer_id", "first_period", "last_period", "issued_on", "amount_rp",
                "budget_rp", "projected_cost_rp", "budget_status"), [(
                d["invoice_ref"], d["agreement_code"], d["payer_id"], d["periods"][0], d["periods"][-1], on,
                d["amount_rp"], d["budget_rp"], d["projected_cost_rp"], d["budget_status"])])
            insert_rows(conn, self.table("invoice_periods"),
                        ("invoice_ref", "period", "agreement_code", "members", "amount_rp"),
                        [(d["invoice_ref"], line["period"], d["agreement_code"], line["members"], line["amount_rp"])
                         for line in d["lines"]])
        elif kind == "StatementImported":
            insert_rows(conn, self.table("statements"), (
                "statement_id", "aggregate_id", "payer_id", "file_name", "file_format", "imported_on", "period_start",
                "period_end", "line_count", "total_rp"), [(
                d["statement_id"], e.originator_id, d["payer_id"], d["file_name"], d["file_format"], on,
                d["period_start"], d["period_end"], d["line_count"], d["total_rp"])])
            self._statement_payers[e.originator_id] = (d["statement_id"], d["payer_id"])
        elif kind == "StatementLinesRecorded":
            statement_id, payer_id = self._statement(conn, e.originator_id)
            insert_rows(conn, self.table("statement_lines"), (
                "statement_id", "line_no", "payer_id", "reference", "booked_on", "amount_rp", "account", "description",
                "status", "value_on"), [(statement_id, x["line_no"], payer_id, x["reference"], x["booked_on"],
                                         x["amount_rp"], x["account"], x["description"], LINE_STATUS_NEW,
                                         x["value_on"]) for x in d["lines"]])
        elif kind == "StatementLinesMatched":
            statement_id, _ = self._statement(conn, e.originator_id)
            assert booked is not None
            rows = [(e.position, i, statement_id, m["line_no"], a["invoice_ref"], a["agreement_code"], a["amount_rp"],
                     m["rule"], booked[m["line_no"]], on)
                    for i, (m, a) in enumerate(((m, a) for m in d["matches"] for a in m["allocations"]), 1)]
            insert_rows(conn, self.table("allocations"), ALLOCATION_COLUMNS, rows)
            self._line_status(conn, statement_id, [m["line_no"] for m in d["matches"]], "MATCHED")
        elif kind == "ReconciliationExceptionsRaised":
            statement_id, payer_id = self._statement(conn, e.originator_id)
            assert booked is not None
            insert_rows(conn, self.table("exceptions"), (
                "statement_id", "line_no", "payer_id", "kind", "reason", "amount_rp", "candidates", "raised_on",
                "status", "resolved_on", "note", "booked_on", "parked"), [(
                statement_id, x["line_no"], payer_id, x["kind"], x["reason"], x["amount_rp"],
                ",".join(x["candidate_invoice_refs"]), on, "OPEN", None, None, booked[x["line_no"]], 0)
                for x in d["exceptions"]])
            self._line_status(conn, statement_id, [x["line_no"] for x in d["exceptions"]], "EXCEPTION")
        elif kind == "ReconciliationExceptionResolved":
            statement_id, _ = self._statement(conn, e.originator_id)
            status = {"MATCH": "MATCHED", "WRITE_OFF": "WRITTEN_OFF", "SUSPENSE": "PARKED"}[d["action"]]
            t = self.table("exceptions")
            parked = {"parked": 1} if d["action"] == "SUSPENSE" else {}  # parking classifies: it holds from booking
            conn.execute(update(t).where(t.c.statement_id == statement_id, t.c.line_no == d["line_no"])
                         .values(status=status, resolved_on=on, note=d["note"], **parked))
            if d["allocations"]:
                assert booked is not None
                insert_rows(conn, self.table("allocations"), ALLOCATION_COLUMNS, [
                    (e.position, i, statement_id, d["line_no"], a["invoice_ref"], a["agreement_code"], a["amount_rp"],
                     "BY_HAND", booked[d["line_no"]], on) for i, a in enumerate(d["allocations"], 1)])
            self._line_status(conn, statement_id, [d["line_no"]], "HAND_MATCHED" if d["allocations"] else status)
        elif kind == "ContributionRefundDue":
            insert_rows(conn, self.table("refunds"), (
                "claim_ref", "payer_id", "member_id", "agreement_code", "periods", "amount_rp", "due_on", "settled_on",
                "payment_reference"), [(d["claim_ref"], d["payer_id"], e.originator_id, d["agreement_code"],
                                        ",".join(d["periods"]), d["amount_rp"], on, None, None)])
        elif kind == "ContributionRefundSettled":
            t = self.table("refunds")
            conn.execute(update(t).where(t.c.claim_ref == d["claim_ref"], t.c.payer_id == d["payer_id"])
                         .values(settled_on=on, payment_reference=d["payment_reference"]))
        elif kind == "ClaimSubmitted":
            insert_rows(conn, self.table("claims_payable"), (
                "claim_stream", "claim_ref", "claim_type", "approved_on", "amount_rp", "paid_on"),
                [(e.originator_id, d["claim_ref"], d["claim_type"], None, 0, None)])
            self._claim_types[e.originator_id] = d["claim_type"]
        elif kind in ("ClaimApproved", "ClaimPaid"):
            t = self.table("claims_payable")
            values = ({"approved_on": on, "amount_rp": d["amount_rp"]} if kind == "ClaimApproved"
                      else {"paid_on": on})
            conn.execute(update(t).where(t.c.claim_stream == e.originator_id).values(**values))

    def _references(self, conn: Connection, changes: dict[str, dict[str, Any]]) -> None:
        """Apply one batch's changes to the payment references: the fields set, the amounts added."""
        if not changes:
            return
        t = self.table("payment_references")
        wanted = list(changes)
        known: set[str] = set()
        for i in range(0, len(wanted), SHAPES_PER_QUERY_MAX):
            known.update(conn.execute(select(t.c.reference).where(
                t.c.reference.in_(wanted[i:i + SHAPES_PER_QUERY_MAX]))).scalars())
        insert_rows(conn, t, ("reference", "credited_rp", "explained_rp", "in_progress"),
                    [(r, 0, 0, 0) for r in wanted if r not in known])
        shortfalls = []
        for reference, change in changes.items():
            shortfalls += [(reference, d) for d in change.pop("_shortfalls", ())]
            added = {f: getattr(t.c, f) + change.pop(f) for f in ("credited_rp", "explained_rp") if f in change}
            conn.execute(update(t).where(t.c.reference == reference).values(**change, **added))
        insert_rows(conn, self.table("exceptions"), (
            "statement_id", "line_no", "payer_id", "kind", "reason", "amount_rp", "candidates", "raised_on", "status",
            "resolved_on", "note", "booked_on", "parked"), [(
                f"{SHORTFALL_PREFIX}{reference}"[:64], version, d["payer_id"], d["kind"], d["reason"],
                d["difference_rp"], "", d["effective_on"], "OPEN", None, None, d["effective_on"], 0)
                for reference, (version, d) in shortfalls])

    def _line_status(self, conn: Connection, statement_id: str, line_nos: list[int], status: str) -> None:
        t = self.table("statement_lines")
        conn.execute(update(t).where(t.c.statement_id == bindparam("sid"), t.c.line_no == bindparam("ln"))
                     .values(status=bindparam("st")),
                     [{"sid": statement_id, "ln": n, "st": status} for n in line_nos])


ALLOCATION_COLUMNS = ("position", "seq", "statement_id", "line_no", "invoice_ref", "agreement_code", "amount_rp",
                      "rule", "effective_on", "decided_on")
TRANSFER_EVENTS = frozenset({"StatementLinesMatched", "ReconciliationExceptionsRaised",
                             "ReconciliationExceptionResolved"})
"""Events deciding on statement lines: their entries are dated by the lines' booking days."""


REFERENCE_EVENTS = frozenset({"PaymentReferenceUsed", "ContributionPaid", "ClaimPaid", "ContributionRefundSettled",
                              "PaymentReferenceShortfall", "BulkCommandStarted", "BulkCommandCompleted"})
"""Events that reserve a payment reference, credit money under one, explain a difference or mark it in progress."""
SHORTFALL_PREFIX = "REF:"
"""A REFERENCE_SHORTFALL exception is listed with the exceptions as statement ``REF:<reference>``, line = the
version of the exception on the reference's stream."""


def _reference_change(changes: dict[str, dict[str, Any]], kind: str, d: dict[str, Any], version: int) -> None:
    if kind == "PaymentReferenceUsed":
        changes.setdefault(d["reference"], {}).update(
            payer_id=d["payer_id"], purpose=d["purpose"], command_id=d["command_id"], reserved_on=d["effective_on"],
            reserved_rp=d["amount_rp"])
    elif kind in ("ContributionPaid", "ClaimPaid", "ContributionRefundSettled"):
        change = changes.setdefault(d["payment_reference"], {})
        change["credited_rp"] = change.get("credited_rp", 0) + d["amount_rp"]
    elif kind == "PaymentReferenceShortfall":
        change = changes.setdefault(d["reference"], {})
        change["explained_rp"] = change.get("explained_rp", 0) + d["difference_rp"]
        change.setdefault("_shortfalls", []).append((version, d))
    elif d.get("payment_reference") is not None:  # a bulk command under a reference started or completed
        changes.setdefault(d["payment_reference"], {})["in_progress"] = int(kind == "BulkCommandStarted")


def shape_id(entry: Entry) -> str:
    """A content address of an entry's memo and legs: equal entries share one set of leg rows."""
    return hashlib.sha256(orjson.dumps([entry.memo, [list(leg) for leg in entry.legs]])).hexdigest()[:32]


def _shaped(shapes: dict[str, Entry], entry: Entry | None) -> str | None:
    if entry is None:
        return None
    shape = shape_id(entry)
    shapes[shape] = entry
    return shape


def no_claim() -> str:
    raise AssertionError("a contribution has no claim")


def candidates_list(text: str | None) -> list[str]:
    return [c for c in (text or "").split(",") if c]


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
