"""``agreement show``'s member figures as they were computed before they moved to SQL (commit ec84505): every
member replayed (or read from its snapshot) and summed one at a time. Kept as an oracle: the SQL figures
(``projections.agreement_figures``) must equal these (tests/test_agreement_figures.py). Not used by the ledger.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import orjson

from eventstore.bootstrap import Ledger
from eventstore.mapper import decode_state
from ledger.events import MEMBER_EVENTS, LedgerEvent, MemberEnrolled
from ledger.member import Member
from projections.agreement_figures import FIGURES
from projections.ledger_views import coverage_on

PAGE_SIZE = 10_000
_MEMBER_TOPICS = {cls.__name__ for cls in MEMBER_EVENTS}


@dataclass
class _Tally:
    """One agreement's member figures on one day, summed member by member."""

    enrolled: int = 0
    active: int = 0
    covered: int = 0
    paid_rp: int = 0
    refund_due_rp: int = 0

    def add(self, member: Member, code: str, payer_id: str, day: date) -> None:
        self.enrolled += 1
        cov = coverage_on(member, day)
        self.active += bool(cov["member_on_that_day"] and cov["payer_id"] == payer_id)
        self.covered += bool(cov["covered"] and cov["payer_id"] == payer_id)
        died = member.state.died_on
        for p in member.state.paid.values():
            if p.agreement_code == code and p.paid_on <= day:
                self.paid_rp += p.amount_rp
                self.refund_due_rp += p.amount_rp if p.refund_due and died is not None and died <= day else 0


def reference_figures(ledger: Ledger, code: str, payer_id: str, day: date,
                      as_of: datetime | None) -> dict[str, int]:
    """The member figures of ``code`` on ``day`` from the members as recorded by ``as_of``."""
    tally = _Tally()
    for member in _all_members(ledger, as_of):
        if _enrolled_under(member, code, day):
            tally.add(member, code, payer_id, day)
    values = (tally.enrolled, tally.active, tally.covered, tally.paid_rp, tally.refund_due_rp)
    return dict(zip(FIGURES, values, strict=True))


def _enrolled_under(member: Member, code: str, day: date) -> bool:
    """Whether a chain of ``member`` enrolled by ``day`` was funded by ``code`` in any of its segments."""
    return any(spell.enrolled_on <= day and any(seg.agreement_code == code for seg in spell.segments)
               for spell in member.state.spells)


def _all_members(ledger: Ledger, as_of: datetime | None) -> Iterator[Member]:
    if as_of is None:
        for head in ledger.store.heads(list(ledger.store.snapshots_of_kind("Member"))):
            yield head.aggregate(Member, ledger.store.mapper)
        return
    streams: dict[uuid.UUID, list[LedgerEvent]] = defaultdict(list)
    position = 1
    while True:
        page = ledger.store.select_notifications(position, PAGE_SIZE)
        if not page:
            break
        for n in page:
            if n.topic.split(":")[-1] not in _MEMBER_TOPICS or not n.topic.startswith("ledger.events:"):
                continue
            state = ledger.store.mapper.plain_state(n.state)
            recorded = datetime.fromisoformat(orjson.loads(state)["recorded_at"])
            if recorded > as_of:
                continue
            stream_id = uuid.UUID(str(n.originator_id))
            streams[stream_id].append(decode_state(n.topic, stream_id, n.originator_version, state))
        position = page[-1].id + 1
    for member_id, events in streams.items():
        if isinstance(events[0], MemberEnrolled):
            yield Member.replay(member_id, events)
