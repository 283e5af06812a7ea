"""The lean log reader (``LedgerStore.read_log``) gives, on every store, exactly what the library's
``select_notifications`` gives: same positions, aggregate ids (canonical text), versions, topics and bytes
(unpacked to the canonical JSON)."""

from __future__ import annotations

from eventstore.bootstrap import Ledger
from tests.test_behaviour import enrol, pay, sign


def test_read_log_equals_select_notifications(ledger: Ledger) -> None:
    sign(ledger)
    for i in (1, 2, 3):
        enrol(ledger, i)
    pay(ledger, 1, ["2025-01"], 16_800, "SP2D-READ-1")
    store = ledger.store
    head = store.max_notification_id()
    library = [(n.id, str(n.originator_id), n.originator_version, n.topic, store.mapper.plain_state(bytes(n.state)))
               for n in store.select_notifications(1, 1_000)]
    assert len(library) == head > 5
    assert store.read_log(0, 1_000) == library
    assert store.read_log(2, 3) == library[2:5]  # after position 2, three rows
    assert store.read_log(0, 1_000, until=4) == library[:4]
    assert store.read_log(head, 10) == []
