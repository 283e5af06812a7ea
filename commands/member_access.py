"""Showing a member, for every face: the read is authorised, and a reveal of personal data is recorded in the access
log before anything is shown (docs/rules.md#access-log)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from commands.authorise import Actor, authorise_read
from commands.handlers import execute
from commands.messages import RevealMember, make
from eventstore.bootstrap import Ledger
from projections.ledger_views import member_view


def show_member(ledger: Ledger, actor: Actor, nik: str, on: date | None, as_of: datetime | None, *,
                purpose: str | None = None, face: str = "cli") -> dict[str, Any]:
    """The member as on ``on`` (as recorded by ``as_of``); with a ``purpose``, its personal data in clear — refused,
    and nothing shown, without the data-protection role."""
    authorise_read(ledger, actor, "member.show", nik=nik)
    if purpose is None:
        return member_view(ledger, nik, on, as_of, False)
    execute(ledger, make(RevealMember, nik=nik, purpose=purpose, face=face), actor)
    return member_view(ledger, nik, on, as_of, True)
