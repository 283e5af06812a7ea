"""Who may act and who looked: the principals as granted, and the access log of personal data read in clear.

Both are events in the log (``ledger.principal``), so the write-time hash chain covers them like every other fact:
``jamsos audit verify`` names an edited or removed access record's position (docs/rules.md#access-log).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventstore.store import LedgerStore
from ledger.access_events import PersonalDataRevealed, PrincipalPasswordSet, PrincipalTokenRotated
from ledger.principal import AccessRecord, Principal

ACCESS_ROWS_MAX = 1_000_000


def principals(store: LedgerStore, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Every principal ever added (revoked ones too), by name; never a token, a password or their hashes: only
    whether a password is set and when it last was."""
    out = []
    for row in store.snapshots_of_kind("Principal"):
        events = [e for e in store.events_of(row.aggregate_id) if as_of is None or e.recorded_at <= as_of]
        if not events:
            continue
        s = Principal.replay(row.aggregate_id, events).state
        out.append({"name": s.name, "roles": [r.value for r in s.roles], "scope": s.scope,
                    "description": s.description, "added_on": s.added_on, "added_by": events[0].actor,
                    "revoked_on": s.revoked_on, "token_expires_on": s.token_expires_on,
                    "token_rotations": sum(isinstance(e, PrincipalTokenRotated) for e in events),
                    "password_set": bool(s.password_argon2),
                    "password_set_on": max((e.effective_on for e in events if isinstance(e, PrincipalPasswordSet)),
                                           default=None) if s.password_argon2 else None})
    return sorted(out, key=lambda p: p["name"])


def access_log(store: LedgerStore, as_of: datetime | None = None, member_id: str | None = None
               ) -> list[dict[str, Any]]:
    """Every read of personal data in clear: when it was recorded, who, which member (pseudonymous id), why."""
    rows = []
    for row in store.snapshots_of_kind("AccessRecord"):
        for event in store.events_of(row.aggregate_id):
            assert isinstance(event, PersonalDataRevealed)
            if as_of is not None and event.recorded_at > as_of:
                continue
            if member_id is not None and str(event.member_id) != member_id:
                continue
            rows.append({"recorded_at": event.recorded_at.isoformat(), "on": event.effective_on.isoformat(),
                         "principal": event.actor, "member_id": str(event.member_id), "purpose": event.purpose,
                         "face": event.face, "command_id": event.command_id})
        assert len(rows) <= ACCESS_ROWS_MAX, "the access log is longer than any report should print"
    return sorted(rows, key=lambda r: (r["recorded_at"], r["command_id"]))


__all__ = ["AccessRecord", "access_log", "principals"]
