"""Every member-period paid, kept as runs: the registers' ``paid`` facts without a row per member and month.

A payment (``ContributionPaid``) belongs to a *series* — its agreement and payer (a self-payer's series is
their own) — and to one *payment* of that series: its day, its reference and its periods, numbered in the
order the series' payments first appear in the log (``ordinal``). A cohort paid month after month is the same
members in payment after payment of one series, so a member's payments are kept as *runs*: "this member, at
these amounts per month, in every payment of the series from ordinal ``first`` to ``last``". Twelve monthly
cohort payments of 10,000 members are 12 payment rows and 10,000 run rows, not 120,000 rows. Members whose
runs are alike (the same series, first and last ordinal, amounts) share one ``paid_runs`` row and are listed
under it in ``paid_run_members``: a cohort paid once more moves one row on (its ``last_ordinal``), not a row per
member; only members who part from their run's company (one not paid this time) move to another run.

Tables (per generation): ``paid_payments`` (one row per payment of a series), ``paid_payment_periods`` (its
months, each with whether it was paid late), ``paid_runs`` and ``paid_run_members``, and ``paid_refunds``
(member-periods whose refund fell due). :data:`PAID_ROWS_SQL` joins them back into one row per member and
period, exactly the columns the registers' single ``paid`` table had (``PAID_COLUMNS``); the reports
(``projections.facts``) and the ``paid_periods`` SQL view read that.

Invariants:
- the member-periods of :data:`PAID_ROWS_SQL` are exactly those of the log's ``ContributionPaid`` events, each
  once, with that event's payer, amounts, day and reference;
- a run covers only payments its member was paid in: it is extended only by the member's payment in the next
  ordinal of its series at the same amounts; anything else starts a new run (an arrear paid on its own, a
  resumed cohort payment, a change of amounts), which costs a row, never a wrong fact;
- the state a batch needs (the payments already numbered; the runs ending at the payment before each of its
  payments) is read from the tables as the batch is applied: a rolled back batch leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import Subquery

if TYPE_CHECKING:  # the writer's: paid_rows (what the read-only report path needs) imports no runner
    from projections.runner import Envelope

QUERY_KEYS_MAX = 500
"""Keys per ``IN (...)`` (under SQLite's limit on bound parameters)."""

PAID_COLUMNS = ("member_id", "period", "agreement_code", "payer_id", "payer_type", "fund_source", "amount_rp",
                "jkk_rp", "jkm_rp", "jht_rp", "paid_on", "payment_reference", "late", "refund_due", "refund_due_on")
"""The columns of one member-period paid (:data:`PAID_ROWS_SQL`)."""

_RUN_PAYMENTS = (
    "JOIN {registers.paid_payments} AS p ON p.series = r.series "
    "AND p.ordinal BETWEEN r.first_ordinal AND r.last_ordinal "
    "JOIN {registers.paid_payment_periods} AS pp ON pp.payment_no = p.payment_no")
_PAYMENT_COLUMNS = (
    "pp.period AS period, p.agreement_code AS agreement_code, "
    "p.payer_id AS payer_id, p.payer_type AS payer_type, p.fund_source AS fund_source, r.amount_rp AS amount_rp, "
    "r.jkk_rp AS jkk_rp, r.jkm_rp AS jkm_rp, r.jht_rp AS jht_rp, p.paid_on AS paid_on, "
    "p.payment_reference AS payment_reference, pp.late AS late")

PAID_ROWS_SQL = (
    f"SELECT rm.member_id AS member_id, {_PAYMENT_COLUMNS}, "
    "CASE WHEN f.member_id IS NULL THEN 0 ELSE 1 END AS refund_due, f.refund_due_on AS refund_due_on "
    "FROM {registers.paid_run_members} AS rm "
    "JOIN {registers.paid_runs} AS r ON r.run_id = rm.run_id "
    f"{_RUN_PAYMENTS} "
    "LEFT JOIN {registers.paid_refunds} AS f ON f.member_id = rm.member_id AND f.period = pp.period")
"""One row per member and period paid (``PAID_COLUMNS``), from the runs; tables named ``{registers.TABLE}``."""

PAID_GROUP_COLUMNS = (*PAID_COLUMNS[1:-2], "members")
"""The columns of one period of one payment as one run received it, and how many members the run has."""

PAID_GROUPS_SQL = (
    f"SELECT {_PAYMENT_COLUMNS}, n.members AS members "
    "FROM (SELECT run_id, count(*) AS members FROM {registers.paid_run_members} GROUP BY run_id) AS n "
    "JOIN {registers.paid_runs} AS r ON r.run_id = n.run_id "
    f"{_RUN_PAYMENTS}")
"""The member-periods of :data:`PAID_ROWS_SQL` grouped by run, payment and period (``PAID_GROUP_COLUMNS``):
its sums are those sums times ``members``, without a row per member (refunds aside: :data:`PAID_REFUNDED_SQL`)."""

PAID_REFUNDED_SQL = (
    f"SELECT f.member_id AS member_id, {_PAYMENT_COLUMNS}, 1 AS refund_due, f.refund_due_on AS refund_due_on "
    "FROM {registers.paid_refunds} AS f "
    "JOIN {registers.paid_run_members} AS rm ON rm.member_id = f.member_id "
    "JOIN {registers.paid_runs} AS r ON r.run_id = rm.run_id "
    f"{_RUN_PAYMENTS} AND pp.period = f.period "
    # (the IN lets SQLite's planner start from the few refunds rather than scan every run member)
    "WHERE rm.member_id IN (SELECT member_id FROM {registers.paid_refunds})")
"""The rows of :data:`PAID_ROWS_SQL` whose refund fell due (``PAID_COLUMNS``), found from the refunds."""

PAID_SHAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "rows": (PAID_ROWS_SQL, PAID_COLUMNS), "groups": (PAID_GROUPS_SQL, PAID_GROUP_COLUMNS),
    "refunded": (PAID_REFUNDED_SQL, PAID_COLUMNS)}
"""The paid member-periods as one row each, grouped by run, or only those refunded: ``paid_rows(tables, shape)``."""

PAID_TABLES = ("paid_payments", "paid_payment_periods", "paid_runs", "paid_run_members", "paid_refunds")

_PLACEHOLDER = re.compile(r"\{registers\.(\w+)\}")
_TYPES: dict[str, Any] = {"amount_rp": BigInteger, "jkk_rp": BigInteger, "jkm_rp": BigInteger, "jht_rp": BigInteger,
                          "late": Integer, "refund_due": Integer, "members": BigInteger}


def define_paid_tables(metadata: MetaData, suffix: str) -> None:
    """The four tables of the paid runs, for one generation of the registers."""
    Table(f"paid_payments{suffix}", metadata,
          Column("payment_no", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
          Column("series", String(400), nullable=False), Column("ordinal", Integer, nullable=False),
          Column("agreement_code", String(64)), Column("payer_id", String(64)), Column("payer_type", String(16)),
          Column("fund_source", String(16)), Column("paid_on", String(10), nullable=False),
          Column("payment_reference", String(64)), Column("periods", Text, nullable=False),
          # constraints, so made with the table (a rebuild makes indexes only after its load): every batch looks
          # payments up by reference and a series' last ordinal
          UniqueConstraint("series", "ordinal", name=f"ux_paid_payments{suffix}_series"),
          UniqueConstraint("payment_reference", "payment_no", name=f"ux_paid_payments{suffix}_reference"))
    Table(f"paid_payment_periods{suffix}", metadata,
          Column("payment_no", BigInteger, nullable=False), Column("period", String(7), nullable=False),
          Column("late", Integer, nullable=False), PrimaryKeyConstraint("payment_no", "period"),
          sqlite_with_rowid=False)
    Table(f"paid_runs{suffix}", metadata,
          Column("run_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
          Column("series", String(400), nullable=False),
          Column("first_ordinal", Integer, nullable=False), Column("last_ordinal", Integer, nullable=False),
          Column("amount_rp", BigInteger, nullable=False), Column("jkk_rp", BigInteger, nullable=False),
          Column("jkm_rp", BigInteger, nullable=False), Column("jht_rp", BigInteger, nullable=False),
          # made with the table (not after a rebuild's load like an index): every batch asks for the runs ending
          # at a payment, and moves them on by series and ordinal
          UniqueConstraint("series", "last_ordinal", "run_id", name=f"ux_paid_runs{suffix}_ending"))
    Table(f"paid_run_members{suffix}", metadata,
          Column("run_id", BigInteger, nullable=False),
          # indexed: a refunded member-period finds its run by member (PAID_REFUNDED_SQL)
          Column("member_id", String(36), nullable=False, index=True),
          PrimaryKeyConstraint("run_id", "member_id"), sqlite_with_rowid=False)
    Table(f"paid_refunds{suffix}", metadata,
          Column("member_id", String(36), nullable=False), Column("period", String(7), nullable=False),
          Column("refund_due_on", String(10), nullable=False), PrimaryKeyConstraint("member_id", "period"),
          sqlite_with_rowid=False)


def paid_rows(tables: dict[str, Table], shape: str = "rows") -> Subquery:
    """One of :data:`PAID_SHAPES` over ``tables`` (name → this generation's table) as a subquery named ``paid``
    (or ``paid_groups``, ``paid_refunded``)."""
    template, names = PAID_SHAPES[shape]
    sql = _PLACEHOLDER.sub(lambda m: tables[m.group(1)].name, template)
    columns = [Column(name, _TYPES.get(name, String)) for name in names]
    return text(sql).columns(*columns).subquery("paid" if shape == "rows" else f"paid_{shape}")


class _Run:
    """One member's run in a series while its batch is applied: where it stands (a stored one is listed by its
    :class:`_Stored`)."""

    __slots__ = ("first", "last", "member_id", "series", "shape")

    def __init__(self, member_id: str, series: str, first: int, last: int, shape: tuple[int, int, int, int]) -> None:
        self.member_id, self.series, self.first, self.last, self.shape = member_id, series, first, last, shape


@dataclass
class _Stored:
    """A stored run read by a batch: its row, and its members' runs as the batch leaves them."""

    series: str
    first: int
    last: int
    shape: tuple[int, int, int, int]
    members: list[_Run]


class PaidWriter:
    """The paid runs' rows for one batch: :meth:`paid` and :meth:`refund` in event order, then :meth:`flush`."""

    def __init__(self, conn: Connection, tables: dict[str, Table], batch: Sequence[Envelope]) -> None:
        self.conn, self.t = conn, tables
        self.payments: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        """(series, paid on, reference, periods) → (payment no, ordinal), known or numbered in this batch."""
        self.next_ordinal: dict[str, int] = {}
        """Series → the ordinal its next new payment takes."""
        self.ending: dict[tuple[str, int, str], _Run] = {}
        """(series, last ordinal, member) → the run: those a payment of this batch may extend."""
        self.loaded: set[tuple[str, int]] = set()
        """(series, ordinal) whose runs ending there are in :attr:`ending` (read, or all made in this batch)."""
        self.series_of: dict[tuple[Any, ...], str] = {}
        self.new_payments: list[tuple[Any, ...]] = []
        self.new_periods: list[tuple[Any, ...]] = []
        self.new_runs: list[_Run] = []
        self.stored: dict[int, _Stored] = {}
        """Run id → each stored run read by this batch (every run ending where a payment of the batch follows)."""
        self.refunds: dict[tuple[str, str], str] = {}
        self._next_payment_no = self._next_run_id = 1
        paid = [e for e in batch if e.event_type == "ContributionPaid"]
        if paid:
            self._load(paid)

    # --- state at the batch's start ---------------------------------------------------------------

    def _load(self, paid: Sequence[Envelope]) -> None:
        t, conn = self.t, self.conn
        payments, runs = t["paid_payments"], t["paid_runs"]
        self._next_payment_no = int(conn.execute(select(func.coalesce(func.max(payments.c.payment_no), 0)))
                                    .scalar_one()) + 1
        self._next_run_id = int(conn.execute(select(func.coalesce(func.max(runs.c.run_id), 0))).scalar_one()) + 1
        references = sorted({e.data["payment_reference"] for e in paid})
        for chunk in _chunks(references):
            for no, series, ordinal, paid_on, reference, periods in conn.execute(
                    select(payments.c.payment_no, payments.c.series, payments.c.ordinal, payments.c.paid_on,
                           payments.c.payment_reference, payments.c.periods)
                    .where(payments.c.payment_reference.in_(chunk))):
                self.payments[(series, paid_on, reference, periods)] = (int(no), int(ordinal))

    def _runs_ending(self, series: str, ordinal: int) -> None:
        """The stored runs of ``series`` ending at ``ordinal``, member by member, into :attr:`ending` (once per
        batch)."""
        self.loaded.add((series, ordinal))
        runs, members = self.t["paid_runs"], self.t["paid_run_members"]
        found = {int(run_id): _Stored(series, int(first), ordinal, (int(amount), int(jkk), int(jkm), int(jht)), [])
                 for run_id, first, amount, jkk, jkm, jht in self.conn.execute(
                     select(runs.c.run_id, runs.c.first_ordinal, runs.c.amount_rp, runs.c.jkk_rp, runs.c.jkm_rp,
                            runs.c.jht_rp).where(runs.c.series == series, runs.c.last_ordinal == ordinal))}
        for chunk in _chunks(sorted(found)):
            for run_id, member_id in self.conn.execute(select(members.c.run_id, members.c.member_id)
                                                       .where(members.c.run_id.in_(chunk))):
                stored = found[int(run_id)]
                run = _Run(member_id, series, stored.first, ordinal, stored.shape)
                stored.members.append(run)
                self.ending[(series, ordinal, member_id)] = run
        self.stored.update(found)

    def _series(self, d: dict[str, Any]) -> str:
        """The series of a payment: its agreement and payer (JSON: a missing agreement differs from an empty one)."""
        key = (d["agreement_code"], d["payer_id"], d["payer_type"], d["fund_source"])
        series = self.series_of.get(key)
        if series is None:
            series = self.series_of[key] = orjson.dumps(key).decode()
        return series

    # --- events -----------------------------------------------------------------------------------

    def paid(self, e: Envelope) -> None:
        """A ``ContributionPaid``: its payment numbered if new, the member's run extended or a new one begun."""
        d = e.data
        series = self._series(d)
        key = (series, d["effective_on"], d["payment_reference"], ",".join(d["periods"]))
        payment = self.payments.get(key)
        if payment is None:
            payment = self.payments[key] = self._number(series, d, key)
        ordinal = payment[1]
        if ordinal > 1 and (series, ordinal - 1) not in self.loaded:
            self._runs_ending(series, ordinal - 1)
        per = d["per_period_rp"]
        shape = (sum(per.values()), per.get("JKK", 0), per.get("JKM", 0), per.get("JHT", 0))
        member = e.originator_id
        run = self.ending.pop((series, ordinal - 1, member), None)
        if run is not None and run.shape == shape:
            run.last = ordinal
        else:
            if run is not None:  # at other amounts: it ends there
                self.ending[(series, ordinal - 1, member)] = run
            run = _Run(member, series, ordinal, ordinal, shape)
            self.new_runs.append(run)
        self.ending[(series, ordinal, member)] = run

    def _number(self, series: str, d: dict[str, Any], key: tuple[str, str, str, str]) -> tuple[int, int]:
        ordinal = self.next_ordinal.get(series)
        if ordinal is None:  # the series' first new payment in this batch: after its last stored one
            payments = self.t["paid_payments"]
            ordinal = int(self.conn.execute(select(func.coalesce(func.max(payments.c.ordinal), 0))
                                            .where(payments.c.series == series)).scalar_one()) + 1
        no = self._next_payment_no
        self._next_payment_no += 1
        self.next_ordinal[series] = ordinal + 1
        self.loaded.add((series, ordinal))  # no stored run can end at a payment first numbered in this batch
        paid_on = d["effective_on"]
        self.new_payments.append((no, series, ordinal, d["agreement_code"], d["payer_id"], d["payer_type"],
                                  d["fund_source"], paid_on, d["payment_reference"], key[3]))
        self.new_periods += [(no, period, int(period < paid_on[:7])) for period in d["periods"]]
        return no, ordinal

    def refund(self, e: Envelope) -> None:
        """A ``ContributionRefundDue``: its months refundable from its day (a later one for a month replaces)."""
        for period in e.data["periods"]:
            self.refunds[(e.originator_id, period)] = e.data["effective_on"]

    # --- writing ----------------------------------------------------------------------------------

    def _write_runs(self) -> None:
        """Each stored run read moved on to where most of its members now end (one row), the others moved to runs
        of their own; the batch's new runs written with alike members together."""
        from projections.runner import insert_rows

        runs, members = self.t["paid_runs"], self.t["paid_run_members"]
        fresh: dict[tuple[str, int, int, tuple[int, int, int, int]], list[str]] = {}
        leaving: list[tuple[int, list[str]]] = []
        for run_id, stored in self.stored.items():
            by_last: dict[int, list[str]] = {}
            for run in stored.members:
                by_last.setdefault(run.last, []).append(run.member_id)
            if not by_last:
                continue
            keep = max(by_last, key=lambda last: (len(by_last[last]), last))
            if keep != stored.last:
                self.conn.execute(update(runs).where(runs.c.run_id == run_id).values(last_ordinal=keep))
            for last, ids in by_last.items():
                if last != keep:
                    fresh.setdefault((stored.series, stored.first, last, stored.shape), []).extend(ids)
                    leaving.append((run_id, ids))
        for run in self.new_runs:
            fresh.setdefault((run.series, run.first, run.last, run.shape), []).append(run.member_id)
        for run_id, ids in leaving:
            for chunk in _chunks(ids):
                self.conn.execute(delete(members).where(members.c.run_id == run_id, members.c.member_id.in_(chunk)))
        new_ids = {key: self._next_run_id + i for i, key in enumerate(fresh)}
        self._next_run_id += len(fresh)
        insert_rows(self.conn, runs, ("run_id", "series", "first_ordinal", "last_ordinal", "amount_rp", "jkk_rp",
                                      "jkm_rp", "jht_rp"),
                    [(new_ids[key], key[0], key[1], key[2], *key[3]) for key in fresh])
        insert_rows(self.conn, members, ("run_id", "member_id"),
                    [(new_ids[key], m) for key, ids in fresh.items() for m in ids])

    def flush(self) -> None:
        from projections.runner import insert_rows

        t, conn = self.t, self.conn
        insert_rows(conn, t["paid_payments"], ("payment_no", "series", "ordinal", "agreement_code", "payer_id",
                                               "payer_type", "fund_source", "paid_on", "payment_reference",
                                               "periods"), self.new_payments)
        insert_rows(conn, t["paid_payment_periods"], ("payment_no", "period", "late"), self.new_periods)
        self._write_runs()
        if self.refunds:
            refunds = t["paid_refunds"]
            keys = list(self.refunds)
            for chunk in _chunks(keys):
                conn.execute(delete(refunds).where(tuple_(refunds.c.member_id, refunds.c.period).in_(chunk)))
            insert_rows(conn, refunds, ("member_id", "period", "refund_due_on"),
                        [(m, p, on) for (m, p), on in self.refunds.items()])


def _chunks(keys: Sequence[Any]) -> list[Sequence[Any]]:
    return [keys[i:i + QUERY_KEYS_MAX] for i in range(0, len(keys), QUERY_KEYS_MAX)]
