"""One bootstrap that wires the store, the keyring and the clock for every entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventstore.clock import WIB, Clock, SimulatedClock, SystemClock
from eventstore.group_commit import GroupCommitter
from eventstore.keys import MemberKeyring, Secrets
from eventstore.settings import StoreSettings, settings
from eventstore.store import LedgerStore, LogGuard, open_store
from ledger.aggregate import Aggregate


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

    committer: GroupCommitter | None = None
    """When set (the HTTP server, ``Settings.http_group_commit``), :meth:`save` goes through it: saves of commands
    executing at once share a transaction (:mod:`eventstore.group_commit`). Unset: each save is its own."""

    def save(self, *aggregates: Aggregate[Any], guard: LogGuard | None = None) -> int:
        """Write a command's decision: every pending event of ``aggregates`` and their snapshots, atomically and
        committed when this returns (only if ``guard`` holds); the number of events written."""
        if self.committer is not None:
            return self.committer.save(*aggregates, guard=guard)
        return self.store.save(*aggregates, guard=guard)

    def close(self) -> None:
        self.store.close()
        self.keyring.close()


def clock_from_env() -> Clock:
    """``JAMSOS_CLOCK=2026-01-31T10:00:00+07:00`` freezes recorded time (for scripted replays)."""
    fixed = settings().clock
    if fixed is not None:
        return SimulatedClock(fixed if fixed.tzinfo else fixed.replace(tzinfo=WIB))
    return SystemClock()


def bootstrap(store_url: str | None = None, *, clock: Clock | None = None, create: bool = True) -> Ledger:
    """Open (and by default create) the store at ``store_url`` with its key file and key table."""
    store_settings = StoreSettings.from_url(store_url)
    if store_settings.kind == "memory":
        secrets = Secrets.generate()
    else:
        secrets = Secrets.load(store_settings.default_key_file(), create=create)
    store = open_store(store_settings.url)
    keyring = MemberKeyring(secrets, store_settings.default_keystore_url())
    ledger = Ledger(store=store, keyring=keyring, clock=clock or clock_from_env())
    batch_size = settings().batch_size
    if batch_size is not None:  # docs/rules.md#bulk-progress
        ledger.batch_size = batch_size
    return ledger
