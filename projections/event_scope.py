"""Which payers and regions an aggregate's events concern: the scope filter of the event feed.

The same placement as the commands' (:mod:`commands.subject`), read from the stored snapshots instead of a
command:

- an agreement: its region and its payer;
- a member: its region and every payer that ever funded it (so a payer keeps seeing a member it funded after a
  payer change, as its commands still reach it);
- a claim: its member's;
- a payer's money records (a bank statement, the payer's reconciliation book, a spent payment reference): the payer,
  and the regions of the payer's agreements;
- a region (its workforce figures): the region;
- the rest — principals, the access log, command records, bulk runs — and anything without a snapshot: nothing,
  so only the ``all`` scope sees them.

A :class:`Reach` is decided from the aggregate's state *now*, not when the event was written, and
:meth:`Scope.covers <ledger.principal.Scope.covers>` decides whether a principal's scope reaches it: a region scope
needs every region of the aggregate inside it, a payer scope needs its payer among the aggregate's payers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from eventstore.store import LedgerStore, SnapshotRow
from ledger.aggregate import Aggregate
from ledger.agreement import Agreement
from ledger.claim import Claim
from ledger.member import Member
from ledger.principal import Scope
from ledger.region import Region
from ledger.reservations import PaymentReference
from ledger.statement import ReconciliationBook, Statement


@dataclass(frozen=True, slots=True)
class Reach:
    """The payers and regions an aggregate concerns; both empty: national (the ``all`` scope only)."""

    payer_ids: frozenset[str] = frozenset()
    region_codes: frozenset[str] = frozenset()

    def within(self, scope: Scope) -> bool:
        return scope.covers(self.payer_ids, self.region_codes)


NATIONAL = Reach()
A = TypeVar("A", bound=Aggregate[Any])
_PayerRecord = type[Statement] | type[ReconciliationBook] | type[PaymentReference]
_PAYER_KINDS: dict[str, _PayerRecord] = {"Statement": Statement, "ReconciliationBook": ReconciliationBook,
                                         "PaymentReference": PaymentReference}
"""The kinds of a payer's money records (their state has ``payer_id``)."""


class ScopeResolver:
    """The :class:`Reach` of aggregates of one store, each looked up once (a few queries per 500 new ids).

    Meant for one page of the feed (one request, one poll of a stream): it caches what it read, so a later change
    (a member's new payer, a payer's new agreement) is seen by the next resolver, not this one."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._reach: dict[uuid.UUID, Reach] = {}
        self._payer_regions: dict[str, frozenset[str]] | None = None

    def reach(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Reach]:
        """The reach of each of ``ids`` (national for an id with no snapshot)."""
        wanted = list(dict.fromkeys(ids))
        missing = [i for i in wanted if i not in self._reach]
        if missing:
            self._resolve(missing)
        return {i: self._reach[i] for i in wanted}

    def _resolve(self, ids: list[uuid.UUID]) -> None:
        rows = self.store.snapshots(ids)
        by_kind: dict[str, list[SnapshotRow]] = {}
        for row in rows.values():
            by_kind.setdefault(row.kind, []).append(row)
        for aggregate_id in ids:
            self._reach[aggregate_id] = NATIONAL
        for row_, agreement in self._heads(by_kind.get("Agreement", []), Agreement):
            self._reach[row_] = Reach(frozenset({agreement.state.payer_id}) - {""},
                                      frozenset({agreement.state.region_code}) - {""})
        for row_, member in self._heads(by_kind.get("Member", []), Member):
            self._reach[row_] = _member_reach(member)
        for row_, region in self._heads(by_kind.get("Region", []), Region):
            self._reach[row_] = Reach(region_codes=frozenset({region.state.code}) - {""})
        for kind, cls in _PAYER_KINDS.items():
            for row_, record in self._heads(by_kind.get(kind, []), cls):
                self._reach[row_] = self._payer(record.state.payer_id)
        claims = dict(self._heads(by_kind.get("Claim", []), Claim))
        members = {c.state.member_id for c in claims.values() if c.state.member_id is not None}
        member_reach = self.reach(members) if members else {}
        for claim_id, claim in claims.items():
            member_id = claim.state.member_id
            self._reach[claim_id] = member_reach.get(member_id, NATIONAL) if member_id else NATIONAL

    def _heads(self, rows: list[SnapshotRow], cls: type[A]) -> list[tuple[uuid.UUID, A]]:
        """Each row's aggregate at its latest version (a snapshot behind its events is caught up)."""
        return [(h.aggregate_id, h.aggregate(cls, self.store.mapper)) for h in self.store.heads(rows)] if rows else []

    def _payer(self, payer_id: str) -> Reach:
        if not payer_id:
            return NATIONAL
        if self._payer_regions is None:  # agreements are few: one per scheme and year
            regions: dict[str, set[str]] = {}
            for row in self.store.snapshots_of_kind("Agreement"):
                state = row.aggregate(Agreement).state
                regions.setdefault(state.payer_id, set()).add(state.region_code)
            self._payer_regions = {p: frozenset(r - {""}) for p, r in regions.items()}
        return Reach(frozenset({payer_id}), self._payer_regions.get(payer_id, frozenset()))


def _member_reach(member: Member) -> Reach:
    payers = {seg.payer_id for spell in member.state.spells for seg in spell.segments}
    return Reach(frozenset(payers) - {""}, frozenset({member.state.region_code}) - {""})
