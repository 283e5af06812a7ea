"""Region (wilayah): facts about a Kemendagri region that reports need, such as its workforce for UCJ.

UCJ (Universal Coverage Jamsostek) = active participants ÷ working population of the region, by person.
Invariant: a region's workforce figures are ordered by effective date; one figure per date.
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.business_time import require_known_region
from ledger.errors import AlreadyDone, InvalidInput
from ledger.events import LedgerEvent, WorkforceRecorded
from ledger.values import format_count

NS_REGION = uuid.UUID("3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9")
WORKFORCE_MAX = 200_000_000


def region_id_for(code: str) -> uuid.UUID:
    return uuid.uuid5(NS_REGION, code)


class RegionState(BaseModel):
    code: str = ""
    workforce: dict[str, int] = {}


class Region(Aggregate[RegionState]):
    """A region and its recorded workforce figures."""

    state_type = RegionState

    def record_workforce(self, ctx: CommandContext, code: str, workforce: int, source: str, on: date) -> None:
        code = require_known_region(code, on)
        if isinstance(workforce, bool) or not isinstance(workforce, int) or not 0 < workforce <= WORKFORCE_MAX:
            raise InvalidInput("workforce", f"must be a whole number of people, 1..{format_count(WORKFORCE_MAX)}")
        if not source.strip():
            raise InvalidInput("source", "must name where the figure comes from (e.g. BPS Sakernas 2025)")
        if self.state.workforce.get(on.isoformat()) == workforce:
            raise AlreadyDone("workforce", f"{code} already has {format_count(workforce)} from {on.isoformat()}")
        self._trigger(ctx, WorkforceRecorded, on, region_code=code, workforce=workforce, source=source.strip())

    def apply(self, event: LedgerEvent) -> None:
        assert isinstance(event, WorkforceRecorded)
        self.state.code = event.region_code
        self.state.workforce = {**self.state.workforce, event.effective_on.isoformat(): event.workforce}
