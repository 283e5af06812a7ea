"""The business date of a command: ``--on`` or today, in the zone of the region the command is about.

:func:`ledger.business_time.business_day` decides the day and refuses a future one; :mod:`commands.subject` says
which region a command is about (docs/rules.md#time-zones). A command that spans regions is national: the national
rules apply, and a sweep without ``--on`` then decides each member on its own region's day (see
:func:`commands.bulk.sweep`).
"""

from __future__ import annotations

from commands.messages import Command
from commands.subject import Subject, payer_subject, subject_of
from eventstore.bootstrap import Ledger
from ledger.business_time import BusinessDay, business_day

Regions = list[str | None]


def payer_regions(ledger: Ledger, payer_id: str | None) -> Regions:
    """The regions of a payer's agreements."""
    return payer_subject(ledger, payer_id).regions


def command_business_day(ledger: Ledger, command: Command, subject: Subject | None = None) -> BusinessDay:
    """``command.effective_on`` (refused when in the future) or today, in the zone of its region."""
    regions = (subject or subject_of(ledger, command)).regions
    return business_day(ledger.clock.now(), command.effective_on, regions, field="effective_on")
