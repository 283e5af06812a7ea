"""The agreements (perjanjian kerja sama) the ledger holds, for choosing one: code, name, payer and region.

Agreements are few (one per scheme and year), so this reads their snapshots (caught up with any newer event)
rather than keeping a view. A face filters the list by its principal's scope (``ledger.principal.Scope.covers``);
the figures of an agreement come from its reports, which authorise the read themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventstore.store import LedgerStore
from ledger.agreement import Agreement
from ledger.principal import Scope


@dataclass(frozen=True, slots=True)
class AgreementEntry:
    """One agreement as a menu shows it."""

    code: str
    name: str
    payer_id: str
    payer_name: str
    region_code: str
    first_period: str
    last_period: str

    def inside(self, scope: Scope) -> bool:
        return scope.covers(frozenset({self.payer_id}), frozenset({self.region_code}))


def agreements(store: LedgerStore) -> list[AgreementEntry]:
    """Every signed agreement, by code."""
    rows = list(store.snapshots_of_kind("Agreement"))
    out = []
    for head in store.heads(rows) if rows else []:
        s = head.aggregate(Agreement, store.mapper).state
        if s.code:
            out.append(AgreementEntry(s.code, s.name, s.payer_id, s.payer_name, s.region_code, s.first_period,
                                      s.last_period))
    return sorted(out, key=lambda a: a.code)


def agreements_in(store: LedgerStore, scope: Scope) -> list[AgreementEntry]:
    """The agreements inside ``scope``."""
    return [a for a in agreements(store) if a.inside(scope)]
