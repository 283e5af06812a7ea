"""One bootstrap that wires the store, the keyring and the clock for every entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

from eventstore.clock import Clock, SimulatedClock, SystemClock
from eventstore.keys import MemberKeyring, Secrets
from eventstore.settings import StoreSettings
from eventstore.store import LedgerStore, open_store


@dataclass
class Ledger:
    """Everything a handler needs: where events go, where keys live, what time it is."""

    store: LedgerStore
    keyring: MemberKeyring
    clock: Clock = field(default_factory=SystemClock)
    batch_size: int = 10_000
    """Aggregates per transaction on the bulk paths."""
    verify_heads: bool = True
    """Whether the bulk write paths check snapshots for newer events before deciding. ``execute`` turns it
    off for a first attempt (a stale snapshot makes the insert collide, and the retry verifies)."""

    def close(self) -> None:
        self.store.close()
        self.keyring.close()


def clock_from_env() -> Clock:
    """``JAMSOS_CLOCK=2026-01-31T10:00:00+07:00`` freezes recorded time (for scripted replays)."""
    fixed = os.environ.get("JAMSOS_CLOCK")
    if fixed:
        return SimulatedClock(datetime.fromisoformat(fixed))
    return SystemClock()


def bootstrap(store_url: str | None = None, *, clock: Clock | None = None, create: bool = True) -> Ledger:
    """Open (and by default create) the store at ``store_url`` with its key file and key table."""
    settings = StoreSettings.from_url(store_url)
    if settings.kind == "memory":
        secrets = Secrets.generate()
    else:
        secrets = Secrets.load(settings.default_key_file(), create=create)
    store = open_store(settings.url)
    keyring = MemberKeyring(secrets, settings.default_keystore_url())
    ledger = Ledger(store=store, keyring=keyring, clock=clock or clock_from_env())
    if os.environ.get("JAMSOS_BATCH_SIZE"):  # docs/rules.md#bulk-progress
        ledger.batch_size = int(os.environ["JAMSOS_BATCH_SIZE"])
    return ledger
