"""Read views over the event log for `member show` and `agreement show`, with both kinds of time.

``on`` (business time) asks who was covered on that day; ``as_of`` (knowledge time) uses only the events
*recorded* by then, so a view can be reproduced exactly as the ledger knew it: a member's and an agreement's own
streams are replayed up to it, an agreement's member figures come from the registers projected up to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from eventstore.bootstrap import Ledger
from ledger.claim import Claim, claim_id_for
from ledger.coverage import is_covered, spell_on
from ledger.errors import InvalidInput, NotFound
from ledger.identity import PersonalData, member_id_for, validate_nik
from ledger.member import Member, member_summary, sealed_personal_data
from ledger.values import Period
from projections.agreement_figures import agreement_document
from projections.facts import registers_for


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


def agreement_views(ledger: Ledger, asked: Sequence[tuple[str, date | None]],
                    as_of: datetime | None) -> list[dict[str, Any]]:
    """Each (agreement, day) asked, from the registers as they stood at ``as_of`` (caught up once, or rebuilt
    once in memory): :func:`projections.agreement_figures.agreement_document`, memory bounded by the answer."""
    _check_as_of(ledger, as_of)
    registers, engine, _ = registers_for(ledger.store, as_of)
    now = ledger.clock.now()
    return [agreement_document(engine, registers, code, on, now, as_of) for code, on in asked]
