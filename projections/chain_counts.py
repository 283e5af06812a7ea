"""Counts of the plain membership chains, kept up to date with the registers: what the members report, the
balances and the expected members read instead of scanning every chain.

Almost every member has one chain (kepesertaan) with one payer from enrolment to lapse. Such a chain is decided,
for every ``--on`` day, by a few facts alone: its agreement, the days it was enrolled, lapsed and its member died,
the lapse's reason, the member's region, village and role (:data:`MEMBERS_KEY`: the members report), and what its
expected months and tariffs depend on (:data:`SHAPE_KEY`: balances, billing, reconciliation). ``chain_counts``
holds how many chains share each combination of them, so the reports' figures for those chains are a fold over a
table whose size is bounded by the calendar, the villages and the income levels, not by the members. A member
with a second chain or a second payer segment is *entangled* (``entangled_members``, one row each): its chains
are read from the registers as before.

Invariants, after every batch the registers apply:
- a member is in exactly one of the two: counted in ``chain_counts`` (one segment in all its chains, hence one
  chain) or listed in ``entangled_members``; a member never leaves the list (chains and segments only grow);
- for every key, ``chains`` is the number of plain members whose chain has that key; a key no longer held keeps
  its row at 0 (readers skip it);
- NULL is stored as ``''`` (a number as :data:`NO_NUMBER`) in the key, whose columns are a primary key; no real
  value is ``''`` (asserted), but a village or the programmes, where every reader takes ``''`` as NULL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, and_, case, func, or_, select
from sqlalchemy.engine import Connection

from projections.kept_sums import add_to_sums, insert_missing

CHAIN_COUNT_TABLES = ("chain_counts", "entangled_members")
MEMBERS_KEY = ("agreement_code", "enrolled_on", "lapsed_on", "lapse_reason", "died_on", "region_code", "village_code",
               "role")
"""What decides a plain chain's place in every section of the members report, on every day."""
SHAPE_KEY = ("first_period", "anchor_day", "declared_income_rp", "programmes", "payer_id", "payer_type",
             "fund_source")
"""With :data:`MEMBERS_KEY` but the region and village, what decides the months a plain chain is expected to be
paid for and their tariffs (``projections.balances``: the chain's shape)."""
KEY = (*MEMBERS_KEY, *SHAPE_KEY)
NO_NUMBER = -1
"""A NULL declared income in the key (no income is negative)."""
NULL_AS = {k: NO_NUMBER if k in ("anchor_day", "declared_income_rp") else "" for k in KEY}
NULL_ALIKE = frozenset({"village_code", "programmes"})
"""Columns whose ``''`` every reader takes as NULL (no village; the default programmes): both are stored ``''``."""
CHAIN_EVENTS = frozenset({"MemberEnrolled", "PayerChanged", "CoverageLapsed", "MemberDied"})
"""The events that change a member's chains, segments or death (every other event leaves the counts alone)."""
MEMBERS_PER_QUERY_MAX = 500
ROWS_PER_FETCH = 2000
"""Count rows fetched at a time (a server-side cursor on PostgreSQL): a reader's memory is its own, not the table's."""

ChainKey = tuple[Any, ...]


def define_chain_count_tables(metadata: MetaData, suffix: str) -> None:
    widths = {"agreement_code": 64, "role": 64, "lapse_reason": 16, "region_code": 16, "village_code": 16,
              "first_period": 7, "programmes": 32, "payer_id": 64, "payer_type": 16, "fund_source": 16}
    numbers = {"anchor_day": Integer, "declared_income_rp": BigInteger}
    Table(f"chain_counts{suffix}", metadata,
          *(Column(k, numbers[k] if k in numbers else String(widths.get(k, 10)), primary_key=True) for k in KEY),
          Column("chains", BigInteger, nullable=False), sqlite_with_rowid=False)
    Table(f"entangled_members{suffix}", metadata, Column("member_id", String(36), primary_key=True),
          Column("segments", Integer, nullable=False), sqlite_with_rowid=False)


class ChainCounter:
    """Keeps the two tables of the module for one batch: :meth:`before` reads the contributions of the members
    the batch will change (before any of its writes), :meth:`after` (once every write is flushed) reads them again
    and applies the difference, and lists the members who became entangled."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.t = tables
        self.counts = tables["chain_counts"]
        self.entangled = tables["entangled_members"]
        self.members: list[str] = []
        self.delta: Counter[ChainKey] = Counter()

    def before(self, conn: Connection, changed: Iterable[str], known: Iterable[str]) -> None:
        """``changed``: every member an event of the batch changes; ``known``: those of them already in the
        registers (a newly enrolled member has nothing to take away)."""
        self.members = sorted(set(changed))
        plain, _ = self._chains(conn, sorted(set(known)))
        self.delta.subtract(plain)

    def after(self, conn: Connection) -> None:
        if not self.members:
            return
        plain, entangled = self._chains(conn, self.members)
        self.delta.update(plain)
        add_to_sums(conn, self.counts, KEY, "chains", self.delta)
        # a member entangled before keeps its row: it never leaves the list
        insert_missing(conn, self.entangled, [{"member_id": m, "segments": entangled[m]} for m in sorted(entangled)])
        self.members, self.delta = [], Counter()

    def _chains(self, conn: Connection, members: list[str]) -> tuple[Counter[ChainKey], dict[str, int]]:
        """Of ``members``: the keys of the plain ones' chains, counted, and the entangled ones with their segments
        (in all their chains). One row per (chain, segment) is read by primary key and told apart here: a member
        with one row is plain. (A correlated count of each member's segments, planned without statistics on
        PostgreSQL's freshly loaded tables, scanned every segment per chain: 35 s of a 1M-event rebuild.)"""
        sp, m, seg = self.t["spells"], self.t["members"], self.t["segments"]
        columns = [seg.c.agreement_code, sp.c.enrolled_on, sp.c.lapsed_on, sp.c.lapse_reason, m.c.died_on,
                   sp.c.region_code, sp.c.village_code, sp.c.role, sp.c.first_period, sp.c.anchor_day,
                   sp.c.declared_income_rp, sp.c.programmes, seg.c.payer_id, seg.c.payer_type, seg.c.fund_source]
        rows_of: dict[str, list[Any]] = {}
        for chunk in _chunks(members):
            query = (select(sp.c.member_id, *columns)
                     .select_from(sp.join(m, m.c.member_id == sp.c.member_id)
                                  .join(seg, (seg.c.member_id == sp.c.member_id) & (seg.c.spell_no == sp.c.spell_no)))
                     .where(sp.c.member_id.in_(chunk)))
            for row in conn.execute(query):
                rows_of.setdefault(row[0], []).append(row[1:])
        plain: Counter[ChainKey] = Counter()
        entangled: dict[str, int] = {}
        for member_id, rows in rows_of.items():
            if len(rows) == 1:
                plain[stored_key(rows[0])] += 1
            else:
                entangled[member_id] = len(rows)
        return plain, entangled


def stored_key(values: Any) -> ChainKey:
    """A chain's :data:`KEY` values as the table holds them: NULL as ``''`` (:data:`NO_NUMBER` for a number)."""
    key = tuple(NULL_AS[k] if v is None else v for k, v in zip(KEY, values, strict=True))
    assert key[1] and key[5] and key[7] and key[8], f"a chain without enrolment day, region, role or period: {key}"
    assert all(v != NULL_AS[k] for k, v in zip(KEY, values, strict=True) if k not in NULL_ALIKE), (
        f"a value that means NULL in the counts: {values}")
    return key


def _chunks(members: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(members), MEMBERS_PER_QUERY_MAX):
        yield members[i : i + MEMBERS_PER_QUERY_MAX]


def plain_chain_rows(conn: Connection, counts: Table, day: str, scope: str | None,
                     key: tuple[str, ...] = KEY, active_only: bool = False) -> Iterator[tuple[Any, ...]]:
    """The ``key`` columns (NULLs back from ``''`` and :data:`NO_NUMBER`) and counts of the plain chains enrolled
    by ``day``, as known on ``day`` (a lapse, its reason and a death only if effective by then: the rule of
    ``projections.facts.Facts.chains``), grouped by ``key`` (of agreement ``scope``, if given: a plain chain has one
    payer, so it is in scope exactly when that payer is); ``active_only``: only the chains active on ``day``
    (``projections.facts.Facts.active``: not lapsed by then, the member not dead before it)."""

    def by_day(value: Any, fact: Any) -> Any:
        return case((and_(fact != "", fact <= day), value), else_="")

    dated = {"lapsed_on": by_day(counts.c.lapsed_on, counts.c.lapsed_on),
             "lapse_reason": by_day(counts.c.lapse_reason, counts.c.lapsed_on),
             "died_on": by_day(counts.c.died_on, counts.c.died_on)}
    columns = [dated[k].label(k) if k in dated else counts.c[k] for k in key]
    query = (select(*columns, func.sum(counts.c.chains)).where(counts.c.chains > 0, counts.c.enrolled_on <= day)
             .group_by(*columns))
    if active_only:
        query = query.where(or_(counts.c.lapsed_on == "", counts.c.lapsed_on > day),
                            or_(counts.c.died_on == "", counts.c.died_on >= day))
    if scope is not None:
        query = query.where(counts.c.agreement_code == scope)
    for row in conn.execution_options(yield_per=ROWS_PER_FETCH).execute(query):
        yield (*(None if v == "" or v == NO_NUMBER else v for v in row[:-1]), int(row[-1]))
