"""The lean log reader (``LedgerStore.read_log``) gives, on every store, exactly what the library's
``select_notifications`` gives: same positions, aggregate ids (canonical text), versions, topics and bytes."""

from __future__ import annotations

import threading

from commands.bootstrap import Ledger
from projections.runner import Envelope, ReadAhead, read_envelopes
from tests.test_behaviour import enrol, pay, sign


def test_read_log_equals_select_notifications(ledger: Ledger) -> None:
    sign(ledger)
    for i in (1, 2, 3):
        enrol(ledger, i)
    pay(ledger, 1, ["2025-01"], 16_800, "SP2D-READ-1")
    store = ledger.store
    head = store.max_notification_id()
    library = [(n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
               for n in store.select_notifications(1, 1_000)]
    assert len(library) == head > 5
    assert store.read_log(0, 1_000) == library
    assert store.read_log(2, 3) == library[2:5]  # after position 2, three rows
    assert store.read_log(0, 1_000, until=4) == library[:4]
    assert store.read_log(head, 10) == []


def test_read_ahead_hands_out_exactly_the_batches_of_a_direct_read(ledger: Ledger) -> None:
    """``ReadAhead`` on every store: the batches equal direct reads; after a full batch the next one is read
    in its own thread and used when asked for; a read from elsewhere, or after the head, reads directly."""
    sign(ledger)
    for i in range(1, 8):
        enrol(ledger, i)
    store = ledger.store
    head = store.max_notification_id()
    calls: list[tuple[int, str]] = []

    def read(after: int, limit: int, until: int | None) -> list[Envelope]:
        calls.append((after, threading.current_thread().name))
        return read_envelopes(store, after, limit, until)

    reader = ReadAhead(read, 4, None)
    try:
        batches = []
        after = 0
        while batch := reader.read(after):
            batches.append(batch)
            after = batch[-1].position
        assert [e for b in batches for e in b] == read_envelopes(store, 0, 1_000)
        assert [len(b) for b in batches] == [4] * (head // 4) + ([head % 4] if head % 4 else [])
        main = threading.current_thread().name
        assert calls[0] == (0, main) and all(name != main for _, name in calls[1:])  # the rest were read ahead
        before = len(calls)
        assert reader.read(2) == read_envelopes(store, 2, 4)  # not where the read ahead was: direct
        assert calls[before] == (2, main)
    finally:
        reader.close()
