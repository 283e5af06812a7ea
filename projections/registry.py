"""The projections `jamsos project` knows, by name."""

from __future__ import annotations

from collections.abc import Callable

from ledger.errors import InvalidInput
from projections.audit import AuditTrail
from projections.journal import Journal
from projections.registers import Registers
from projections.runner import Projection

PROJECTIONS: dict[str, Callable[[int], Projection]] = {
    AuditTrail.name: AuditTrail, Journal.name: Journal, Registers.name: Registers,
}


def projection(name: str) -> Callable[[int], Projection]:
    factory = PROJECTIONS.get(name)
    if factory is None:
        raise InvalidInput("name", f"unknown projection {name!r}; known: {', '.join(sorted(PROJECTIONS))}")
    return factory
