"""Read views over the event log for `member show` and `agreement show`, with both kinds of time.

``on`` (business time) asks who was covered on that day; ``as_of`` (knowledge time) replays only the
events *recorded* by then, so a view can be reproduced exactly as the ledger knew it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from eventstore.bootstrap import Ledger
from eventstore.mapper import decode_state
from ledger.agreement import Agreement, AgreementState, agreement_id_for, budget_in_force
from ledger.claim import Claim, claim_id_for
from ledger.coverage import is_covered, spell_on
from ledger.errors import InvalidInput, NotFound
from ledger.events import MEMBER_EVENTS, LedgerEvent, MemberEnrolled
from ledger.identity import PersonalData, member_id_for, validate_nik
from ledger.member import Member, member_summary, sealed_personal_data
from ledger.values import Period

PAGE_SIZE = 10_000
_MEMBER_TOPICS = {cls.__name__ for cls in MEMBER_EVENTS}


def _check_as_of(ledger: Ledger, as_of: datetime | None) -> None:
    if as_of is not None and as_of > ledger.clock.now():
        raise InvalidInput("as_of", f"{as_of.isoformat()} is in the future")


def view_day(ledger: Ledger, on: date | None, region_code: str | None) -> date:
    """``on`` (refused when the day has not begun in the region) or today in the region's zone."""
    from projections.reports import report_day

    return report_day(ledger.clock.now(), on, region_code).on


def replay_as_of(ledger: Ledger, cls: type[Any], aggregate_id: uuid.UUID, as_of: datetime | None) -> Any:
    """The aggregate as recorded by ``as_of`` (all of it when None)."""
    if as_of is None:
        return ledger.store.load(cls, aggregate_id)
    events = [e for e in ledger.store.events_of(aggregate_id) if e.recorded_at <= as_of]
    return cls.replay(aggregate_id, events)


def coverage_on(member: Member, day: date) -> dict[str, Any]:
    s = member.state
    spell = spell_on(s.spells, day) if s.died_on is None or day <= s.died_on else None
    return {
        "on": day.isoformat(),
        "member_on_that_day": spell is not None,
        "covered": is_covered(s.spells, s.paid, day, s.died_on),
        "period": str(Period.containing(day, spell.anchor_day)) if spell else None,
        "payer_id": spell.segment_for(Period.containing(day, spell.anchor_day)).payer_id if spell else None,
    }


def member_view(
    ledger: Ledger, nik: str, on: date | None, as_of: datetime | None, reveal: bool = False
) -> dict[str, Any]:
    nik = validate_nik(nik)
    _check_as_of(ledger, as_of)
    member_id = member_id_for(ledger.keyring.secrets.pepper, nik)
    member: Member = replay_as_of(ledger, Member, member_id, as_of)
    if not member.exists:
        raise NotFound("nik", "unknown member (no enrolment for this NIK)")
    view = member_summary(member)
    view["coverage"] = coverage_on(member, view_day(ledger, on, member.state.region_code))
    view["as_of"] = as_of.isoformat() if as_of else None
    claims = []
    for claim_ref in member.state.claims:
        claim: Claim = replay_as_of(ledger, Claim, claim_id_for(claim_ref), as_of)
        cs = claim.state
        claims.append(
            {
                "claim_id": cs.claim_ref,
                "type": cs.facts.claim_type.value if cs.facts else None,
                "event_date": cs.facts.event_date.isoformat() if cs.facts else None,
                "status": cs.status.value,
                "amount_rp": cs.amount_rp,
                "components": dict(cs.components),
                "reason_code": cs.reason_code,
                "paid_on": cs.paid_on.isoformat() if cs.paid_on else None,
                "payment_reference": cs.payment_reference,
            }
        )
    view["claims"] = claims
    if reveal:
        view["personal"] = reveal_personal(ledger, member)
    return view


def reveal_personal(ledger: Ledger, member: Member) -> dict[str, Any] | str:
    sealed = sealed_personal_data(ledger.store.events_of(member.id))
    if sealed is None:
        return "none recorded"
    plain = ledger.keyring.open(member.id, sealed)
    if plain is None:
        return "erased (the member's key was destroyed)"
    revealed: dict[str, Any] = PersonalData.model_validate_json(plain).model_dump(mode="json")
    return revealed


def agreement_view(ledger: Ledger, code: str, on: date | None, as_of: datetime | None) -> dict[str, Any]:
    """Figures of one agreement on ``on`` as recorded by ``as_of`` (``jamsos agreement show``)."""
    return agreement_views(ledger, [(code, on)], as_of)[0]


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


def agreement_views(ledger: Ledger, asked: Sequence[tuple[str, date | None]],
                    as_of: datetime | None) -> list[dict[str, Any]]:
    """The figures of each (agreement, day) asked, from one pass over the members that holds one at a time
    (memory bounded by a member, not by the store)."""
    _check_as_of(ledger, as_of)
    wanted: list[tuple[str, AgreementState, date]] = []
    for code, on in asked:
        # replayed from its events (a short stream), so its state holds every budget the snapshot of an older
        # store would lack
        agreement_id = agreement_id_for(code)
        agreement = Agreement.replay(agreement_id, [e for e in ledger.store.events_of(agreement_id)
                                                    if as_of is None or e.recorded_at <= as_of])
        if not agreement.exists:
            raise NotFound("agreement_id", f"unknown agreement {code}")
        s = agreement.state
        day = view_day(ledger, on, s.region_code)
        if s.signed_on is not None and s.signed_on > day:
            raise NotFound("agreement_id", f"agreement {code} was signed on {s.signed_on.isoformat()}, after "
                                           f"{day.isoformat()}")
        wanted.append((code, s, day))
    tallies = [_Tally() for _ in wanted]
    codes_asked = {code for code, _, _ in wanted}
    for member in _all_members(ledger, as_of):
        codes = {seg.agreement_code for sp in member.state.spells for seg in sp.segments if seg.agreement_code}
        if not codes & codes_asked:
            continue
        # as the business stood on ``day``: chains enrolled under it by then, payments made by then, refunds
        # due once the death they follow is effective
        for (code, s, day), tally in zip(wanted, tallies, strict=True):
            if code in codes and _enrolled_under(member, code, day):
                tally.add(member, code, s.payer_id, day)
    return [{
        "agreement_id": s.code,
        "name": s.name,
        "payer": {
            "id": s.payer_id, "name": s.payer_name, "type": s.payer_type.value, "fund_source": s.fund_source.value
        },
        "legal_basis": s.legal_basis,
        "region_code": s.region_code,
        "window": f"{s.first_period}..{s.last_period}",
        "programmes": [p.value for p in s.programmes],
        "rate_per_member_month_rp": s.rate_per_member_month_rp,
        "billing_cadence": s.billing_cadence.value,
        "budget_rp": budget_in_force(s.budgets, day.isoformat()),
        "closed": s.closed,
        "members_enrolled": tally.enrolled,
        "on": day.isoformat(),
        "members_active_on": tally.active,
        "members_covered_on": tally.covered,
        "contributions_paid_rp": tally.paid_rp,
        "refunds_due_rp": tally.refund_due_rp,
        "as_of": as_of.isoformat() if as_of else None,
    } for (_, s, day), tally in zip(wanted, tallies, strict=True)]


def _enrolled_under(member: Member, code: str, day: date) -> bool:
    """Whether a chain of ``member`` enrolled by ``day`` was funded by ``code`` at some point decided by then."""
    return any(spell.enrolled_on <= day and any(seg.agreement_code == code for seg in spell.segments)
               for spell in member.state.spells)


def _all_members(ledger: Ledger, as_of: datetime | None) -> Any:
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
