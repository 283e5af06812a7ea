"""Domain errors. Each names the field (or business key) at fault and the reason.

A command that raises any of these has written nothing: handlers decide before they save.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class: ``field`` is what the user must fix, ``reason`` says why."""

    code = "ledger_error"
    exit_code = 1
    """The one mapping of a refusal's kind to the CLI's exit code (and the broker reply's ``exit_code``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "field": self.field, "reason": self.reason}


class InvalidInput(LedgerError):
    """The value is malformed (shape, range, type)."""

    code = "invalid_input"
    exit_code = 2


class RuleViolation(LedgerError):
    """The value is well-formed but a business rule forbids it (window, tariff, duplicate...)."""

    code = "rule_violation"
    exit_code = 3


class NotFound(LedgerError):
    """The referenced agreement, member or claim does not exist."""

    code = "not_found"
    exit_code = 4


class AlreadyDone(RuleViolation):
    """The fact is already recorded (period already paid, NIK already enrolled...)."""

    code = "already_done"


class IdempotencyConflict(LedgerError):
    """The command id was used before with a different payload."""

    code = "idempotency_conflict"
    exit_code = 5


class ConcurrencyConflict(LedgerError):
    """Another writer changed the same aggregate first; retrying re-decides on fresh state."""

    code = "concurrency_conflict"
    exit_code = 6


class Unauthenticated(LedgerError):
    """No principal: the token is missing, unknown, malformed or revoked. Faces answer only ``unauthenticated``."""

    code = "unauthenticated"
    exit_code = 9


class Forbidden(LedgerError):
    """The principal is known but its role, its scope or a four-eyes rule does not allow this.

    Faces that answer strangers (broker, HTTP) say only ``forbidden``; the reason goes to the dead letter / log.
    """

    code = "forbidden"
    exit_code = 10
