"""Group commit (eventstore/group_commit.py): concurrent saves share a transaction, and each still gets exactly the
outcome of a save of its own.

Each test holds the first batch's write (a wrapper around the store's ``write_prepared``) until the saves it wants
in the next batch are queued, so the batches are the ones the test names, on every store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import pytest

from commands.common import context
from commands.handlers import HANDLERS
from commands.messages import AddPrincipal, PayContribution
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.group_commit import GroupCommitter
from eventstore.store import LogGuard, PreparedWrite, open_store
from ledger.errors import AlreadyDone, ConcurrencyConflict
from ledger.events import ContributionPaid
from ledger.identity import member_id_for
from ledger.reservations import CommandRecord, command_record_id
from ledger.values import Role
from projections.chain_audit import verify
from tests.conftest import events_count, execute, nik
from tests.test_behaviour import enrol, pay, sign

RATE_RP = 16_800
PAY_DAY = date(2025, 1, 7)
WAIT_S = 30.0


class HeldWrites:
    """Wraps ``ledger.store.write_prepared``: the first write waits until ``queued`` saves wait behind it (and
    ``gate``, if given, is set); every write's number of saves is recorded, and a write holding an event of a
    ``poisoned`` aggregate (hex id) raises."""

    def __init__(self, ledger: Ledger, queued: int, gate: threading.Event | None = None) -> None:
        self.committer = GroupCommitter(ledger.store)
        ledger.committer = self.committer
        self.real = ledger.store.write_prepared
        self.queued = queued
        self.gate = gate
        self.sizes: list[int] = []
        self.poisoned: set[str] = set()
        self.first = threading.Event()
        ledger.store.write_prepared = self.write  # type: ignore[method-assign]

    def write(self, *prepared: PreparedWrite, guard: LogGuard | None = None) -> None:
        if not self.first.is_set():  # only the leader writes: no two threads get here at once
            self.first.set()
            deadline = time.monotonic() + WAIT_S
            while len(self.committer._queue) < self.queued or (self.gate is not None and not self.gate.is_set()):
                assert time.monotonic() < deadline, "the saves to batch never queued"
                time.sleep(0.002)
        self.sizes.append(len(prepared))
        if {e[0].hex for p in prepared for e in p.events} & self.poisoned:
            raise OSError("disk full (a test's fault)")
        self.real(*prepared, guard=guard)


def member_hex(ledger: Ledger, i: int) -> str:
    return member_id_for(ledger.keyring.secrets.pepper, nik(i)).hex


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread; each one's result or exception."""
    out: list[Any] = [None] * len(calls)

    def one(k: int) -> None:
        try:
            out[k] = calls[k]()
        except Exception as err:  # the outcome under test
            out[k] = err

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
        assert not t.is_alive(), "a save never returned"
    return out


def start_held(held: HeldWrites, first: Callable[[], Any]) -> threading.Thread:
    """Start ``first`` in a thread; return once its save is the held write."""
    thread = threading.Thread(target=lambda: in_threads([first]))
    thread.start()
    assert held.first.wait(WAIT_S)
    return thread


@pytest.fixture
def paying(ledger: Ledger) -> Iterator[Ledger]:
    """An agreement with members 1..6 enrolled, the clock on the pay day."""
    sign(ledger)
    for i in range(1, 7):
        enrol(ledger, i)
    ledger.clock.set_day(PAY_DAY)  # type: ignore[attr-defined]
    yield ledger
    ledger.committer = None


def pays(ledger: Ledger, i: int, ref: str) -> Callable[[], Any]:
    return lambda: pay(ledger, i, ["2025-01"], RATE_RP, ref, on=PAY_DAY)


def paid_members(ledger: Ledger) -> list[str]:
    notes = ledger.store.select_notifications(1, 10_000)
    return sorted(n.originator_id.hex if hasattr(n.originator_id, "hex") else str(n.originator_id).replace("-", "")
                  for n in notes if n.topic.endswith(ContributionPaid.__name__))


def test_saves_queued_while_one_commits_are_written_in_one_transaction(paying: Ledger) -> None:
    held = HeldWrites(paying, queued=4)
    first = start_held(held, pays(paying, 1, "R-1"))
    results = in_threads([pays(paying, i, f"R-{i}") for i in range(2, 6)])
    first.join(WAIT_S)
    assert not any(isinstance(r, Exception) for r in results), results
    assert held.sizes == [1, 4]  # the held one alone, then the four that queued behind it together
    assert (held.committer.batches, held.committer.batched_saves, held.committer.fallbacks) == (1, 4, 0)
    assert paid_members(paying) == sorted(member_hex(paying, i) for i in range(1, 6))
    assert verify(paying.store)["findings"] == []


def test_a_batch_with_two_saves_of_one_aggregate_falls_back_and_the_loser_re_decides(paying: Ledger) -> None:
    held = HeldWrites(paying, queued=3)
    first = start_held(held, pays(paying, 6, "R-6"))
    before = events_count(paying)
    # two payments of member 1's January (they decided on the same version), one of member 2: one batch of three
    results = in_threads([pays(paying, 1, "R-1a"), pays(paying, 1, "R-1b"), pays(paying, 2, "R-2")])
    first.join(WAIT_S)
    assert held.committer.fallbacks == 1 and held.sizes[:2] == [1, 3]
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 2 and len(refused) == 1 and isinstance(refused[0], AlreadyDone), results  # re-decided: paid
    assert paid_members(paying).count(member_hex(paying, 1)) == 1
    assert member_hex(paying, 2) in paid_members(paying)
    assert events_count(paying) > before
    assert verify(paying.store)["findings"] == []


def test_a_failing_save_in_a_batch_fails_alone_and_the_others_are_committed(paying: Ledger) -> None:
    held = HeldWrites(paying, queued=3)
    held.poisoned.add(member_hex(paying, 3))
    first = start_held(held, pays(paying, 6, "R-6"))
    results = in_threads([pays(paying, 2, "R-2"), pays(paying, 3, "R-3"), pays(paying, 4, "R-4")])
    first.join(WAIT_S)
    assert held.committer.fallbacks == 1
    assert isinstance(results[1], OSError), results
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception), results
    paid = paid_members(paying)
    assert member_hex(paying, 3) not in paid
    assert {member_hex(paying, 2), member_hex(paying, 4), member_hex(paying, 6)} <= set(paid)
    assert verify(paying.store)["findings"] == []


def test_a_batch_holding_one_command_id_twice_commits_it_once(paying: Ledger) -> None:
    held = HeldWrites(paying, queued=2)
    first = start_held(held, pays(paying, 6, "R-6"))
    command = PayContribution(nik=nik(1), periods=["2025-01"], amount_rp=RATE_RP, payment_reference="R-1",
                              effective_on=PAY_DAY, command_id="the-one")
    results = in_threads([lambda: execute(paying, command), lambda: execute(paying, command)])
    first.join(WAIT_S)
    assert held.committer.fallbacks == 1
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(bool(r.get("replayed")) for r in results) == [False, True]
    assert paid_members(paying).count(member_hex(paying, 1)) == 1


@pytest.mark.parametrize("store_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_every_caller_returns_after_its_batch_is_committed(store_url: str, paying: Ledger) -> None:
    """Read back from another connection (another store object on the same database) right as each returns."""
    paying.committer = GroupCommitter(paying.store)
    other = open_store(store_url)
    try:
        def pay_and_look(i: int) -> bool:
            execute(paying, PayContribution(nik=nik(i), periods=["2025-01"], amount_rp=RATE_RP,
                                            payment_reference=f"R-{i}", effective_on=PAY_DAY,
                                            command_id=f"durable-{i}"))
            return other.load(CommandRecord, command_record_id(f"durable-{i}")).version > 0

        results = in_threads([lambda i=i: pay_and_look(i) for i in range(1, 7)])  # type: ignore[misc]
        assert results == [True] * 6, results
    finally:
        other.close()


def principal_decision(ledger: Ledger) -> list[Any]:
    """The aggregates of an AddPrincipal decided but not saved."""
    command = AddPrincipal(name="guarded-one", roles=[Role.OPERATOR], token_sha256="0" * 64)
    return list(HANDLERS[AddPrincipal](ledger, command, context(ledger, command, "local:test"), PAY_DAY)[0])


def test_a_guarded_save_is_written_alone_not_behind_a_held_batch(paying: Ledger) -> None:
    guard = LogGuard(paying.store.max_notification_id(), (ContributionPaid,), "a test decision")
    aggregates = principal_decision(paying)
    gate = threading.Event()
    held = HeldWrites(paying, queued=1, gate=gate)
    first = start_held(held, pays(paying, 6, "R-6"))
    behind = threading.Thread(target=lambda: in_threads([pays(paying, 1, "R-1")]))
    behind.start()
    try:
        guarded = in_threads([lambda: held.committer.save(*aggregates, guard=guard)])  # while the batch is held
        assert isinstance(guarded[0], int) and guarded[0] > 0, guarded
        assert not gate.is_set() and first.is_alive()
    finally:
        gate.set()
        behind.join(WAIT_S)
        first.join(WAIT_S)
    assert sorted(paid_members(paying)) == sorted([member_hex(paying, 1), member_hex(paying, 6)])


def test_a_guarded_save_still_conflicts_through_the_committer(paying: Ledger) -> None:
    paying.committer = GroupCommitter(paying.store)
    guard = LogGuard(paying.store.max_notification_id(), (ContributionPaid,), "a test decision")
    pay(paying, 1, ["2025-01"], RATE_RP, "R-1", on=PAY_DAY)  # a payment after the guard's position
    aggregates = principal_decision(paying)
    before = events_count(paying)
    with pytest.raises(ConcurrencyConflict):
        paying.committer.save(*aggregates, guard=guard)
    assert events_count(paying) == before


def test_many_threads_through_the_committer_keep_the_chain_whole(tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """No hold: batches form as they do in a server; every payment is written once and the chain verifies."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(str(tmp_path / "s.db"), clock=SimulatedClock(datetime(2025, 1, 2, 9, tzinfo=WIB)))
    try:
        sign(ledger)
        members = 24
        for i in range(1, members + 1):
            enrol(ledger, i)
        ledger.clock.set_day(PAY_DAY)  # type: ignore[attr-defined]
        ledger.committer = GroupCommitter(ledger.store)
        # each member paid twice under two command ids: exactly one of each pair succeeds
        results = in_threads([pays(ledger, i, f"R-{i}-{k}") for i in range(1, members + 1) for k in range(2)])
        assert sum(not isinstance(r, Exception) for r in results) == members, results
        assert all(isinstance(r, AlreadyDone) for r in results if isinstance(r, Exception)), results
        assert sorted(paid_members(ledger)) == sorted(member_hex(ledger, i) for i in range(1, members + 1))
        assert verify(ledger.store)["findings"] == []
    finally:
        ledger.close()
