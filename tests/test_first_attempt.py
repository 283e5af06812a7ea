"""The member a command's authorisation read is the one its first attempt decides on
(``commands.common.first_attempt``), and a retry reads it afresh.

A competing payment of the same member commits between the authorisation's read and the first attempt's save: that
save must collide, the retry must decide on the member as the competing payment left it, and both payments must
stand. Had the retry been handed the stale member, every attempt would collide and ``execute`` would give up.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from commands import common, handlers
from commands.common import load_member
from eventstore.bootstrap import Ledger
from ledger.identity import member_id_for
from ledger.member import Member
from tests.conftest import events_count, nik
from tests.test_behaviour import enrol, pay, sign
from tests.test_money_race import record_saves


def _member(ledger: Ledger, i: int) -> Member:
    return ledger.store.load(Member, member_id_for(ledger.keyring.secrets.pepper, nik(i)))


def test_a_payment_racing_another_of_the_same_member_retries_on_its_new_state(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = int(sign(ledger)["rate_per_member_month_rp"])
    enrol(ledger, 1)
    real = handlers.HANDLERS[handlers.PayContribution]
    calls: list[int] = []

    def racing(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # after the authorisation read the member, before this attempt decides and saves
            pay(ledger, 1, ["2025-02"], rate, "REF-COMPETING")
        return real(*args)

    monkeypatch.setitem(handlers.HANDLERS, handlers.PayContribution, racing)
    saves = record_saves(monkeypatch, ledger)
    result = pay(ledger, 1, ["2025-01"], rate, "REF-RACED")
    assert result["periods"] == ["2025-01"]
    # the competing payment (its own command, nested) saved, then the raced one collided once and its retry saved
    assert saves == ["ok", "aggregate", "ok"], saves
    assert len(calls) == 3, "the competing payment, the raced first attempt and its retry each ran the handler"
    assert {"2025-01", "2025-02"} <= set(_member(ledger, 1).state.paid)


def test_the_authorised_member_is_the_one_decided_on_and_nothing_is_read_twice(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = int(sign(ledger)["rate_per_member_month_rp"])
    enrol(ledger, 1)
    real_load = ledger.store.load
    member_loads: list[str] = []

    def counting(cls: type, aggregate_id: Any) -> Any:
        if cls is Member:
            member_loads.append(str(aggregate_id))
        return real_load(cls, aggregate_id)

    monkeypatch.setattr(ledger.store, "load", counting)
    before = events_count(ledger)
    pay(ledger, 1, ["2025-01"], rate, "REF-ONCE")
    assert events_count(ledger) > before
    assert len(member_loads) == 1, f"the member was read {len(member_loads)} times for one payment"


def test_outside_a_command_and_on_other_threads_every_read_goes_to_the_store(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    member_id = member_id_for(ledger.keyring.secrets.pepper, nik(1))
    assert load_member(ledger, member_id) is not load_member(ledger, member_id)
    seen: dict[str, Member] = {}
    with common.first_attempt():
        first = load_member(ledger, member_id)
        assert load_member(ledger, member_id) is first
        thread = threading.Thread(target=lambda: seen.setdefault("other", load_member(ledger, member_id)))
        thread.start()
        thread.join()
        assert seen["other"] is not first, "another thread's command must not share this one's member"
        common.end_first_attempt()
        assert load_member(ledger, member_id) is not first
    assert load_member(ledger, member_id) is not first


def test_a_command_record_keeps_no_snapshot_row_and_still_replays_its_result(ledger: Ledger) -> None:
    """``CommandRecord.snapshotted`` is False: no snapshot row (nor state row) per command, the record is read from
    its one event, and the same command id still answers with the stored result."""
    rate = int(sign(ledger)["rate_per_member_month_rp"])
    enrol(ledger, 1)
    first = pay(ledger, 1, ["2025-01"], rate, "REF-SNAP", command_id="pay-snap")
    assert list(ledger.store.snapshots_of_kind("CommandRecord")) == []
    assert len(list(ledger.store.snapshots_of_kind("Member"))) == 1, "the member's own row is kept"
    before = events_count(ledger)
    again = pay(ledger, 1, ["2025-01"], rate, "REF-SNAP", command_id="pay-snap")
    assert again == {**first, "replayed": True}
    assert events_count(ledger) == before
