"""Packed event states (``eventstore.state_codec``): lossless, pinned to one dictionary, refused when damaged, and
a store holding events from before packing (plain JSON) beside packed ones reads, reports and verifies exactly
as a store of plain events does."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import state_codec
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.state_codec import PACKED_1_MARK, StateEncodingError, pack, unpack
from projections.chain_audit import verify
from tests.test_reports import _reports, _scenario

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), json_values, max_size=12))
def test_packing_is_lossless_and_plain_json_reads_as_it_is(obj: dict[str, Any]) -> None:
    plain = orjson.dumps(obj)
    packed = pack(plain)
    assert packed[0] == PACKED_1_MARK and unpack(packed) == plain
    assert pack(plain) == packed  # deterministic: the bulk paths copy packed bytes between members
    assert unpack(plain) is plain  # an event stored before packing


def test_a_contribution_packs_to_a_fraction_of_its_json() -> None:
    event = {"timestamp": "2026-12-07T01:00:01.631027Z", "recorded_at": "2025-01-10T09:00:00.000006+07:00",
             "effective_on": "2025-01-10", "actor": "operator-bpkad", "command_id": "pay:SP2D/SKW-2025/2025-03",
             "periods": ["2025-03"], "amount_rp": 16800, "per_period_rp": {"JKK": 10000, "JKM": 6800},
             "payer_id": "PEMKOT-SKW", "payer_type": "APBD_KOTA", "fund_source": "APBD",
             "agreement_code": "SKW-2025", "payment_reference": "SP2D/SKW-2025/2025-03"}
    plain = orjson.dumps(event)
    assert len(pack(plain)) <= len(plain) // 2, (len(plain), len(pack(plain)))


@pytest.mark.parametrize(("stored", "reason"), [
    (b"", "empty stored state"),
    (b"\x02abc", "unknown state encoding byte 0x02"),
    (b"[1,2]", "unknown state encoding byte 0x5b"),
    (b"\x01" + b"\x00" * 12, "packed state does not unpack"),
])
def test_a_state_in_no_known_encoding_is_refused_by_name(stored: bytes, reason: str) -> None:
    with pytest.raises(StateEncodingError, match=reason):
        unpack(stored)


def test_a_truncated_packed_state_is_refused() -> None:
    packed = pack(b'{"periods":["2025-01","2025-02"],"amount_rp":33600}')
    with pytest.raises(StateEncodingError, match="does not unpack"):
        unpack(packed[:-3])


def test_the_dictionary_is_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing dictionary 1 would make every packed event unreadable: a changed file is refused on load."""
    changed = tmp_path / "state_dictionary_1.zdict"
    data = bytearray(state_codec.DICTIONARY_1_PATH.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    monkeypatch.setattr(state_codec, "DICTIONARY_1_PATH", changed)
    monkeypatch.setattr(state_codec, "_per_thread", threading.local())  # this thread's codec made afresh
    state_codec._dictionary_1.cache_clear()
    try:
        with pytest.raises(StateEncodingError, match="is not dictionary 1's"):
            pack(b"{}")
    finally:
        monkeypatch.undo()
        state_codec._dictionary_1.cache_clear()
    assert unpack(pack(b"{}")) == b"{}"


def test_threads_pack_and_unpack_at_once_as_one_thread_does() -> None:
    """The HTTP face writes from a pool of threads: a shared zstd compressor failed there ("Src size is
    incorrect"); each thread has its own."""
    states = [orjson.dumps({"periods": [f"2025-{m:02d}"], "amount_rp": 16_800 * k, "payment_reference": f"R-{k}"})
              for k in range(300) for m in range(1, 13)]
    expected = [pack(s) for s in states]

    def work(offset: int) -> bool:
        order = states[offset:] + states[:offset]
        for _ in range(3):
            if [unpack(pack(s)) for s in order] != order:
                return False
        return [pack(s) for s in order] == expected[offset:] + expected[:offset]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(0, 800, 100)))


UPGRADED_ON = date(2025, 4, 1)
"""The day the mixed store's ledger starts packing: the events recorded before it stay plain JSON."""
PLAN = [(6, 3, "cohort"), (2, 4, "single"), (4, 2, "death"), (6, 5, "cohort"), (1, 1, "single"), (5, 3, "death")]


def _log(folder: Path, monkeypatch: pytest.MonkeyPatch, packing: str) -> tuple[str, list[tuple[Any, ...]]]:
    """The same log written with ``packing`` ``none`` (a store from before packing), ``mixed`` (upgraded on
    :data:`UPGRADED_ON`) or ``all``, then read with today's code: every report's JSON, and each event's position,
    topic, stored first byte and JSON (decoded through the mapper, as every reader does)."""
    import commands.bulk
    import eventstore.mapper

    folder.mkdir()
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(folder / "k.key"))
    clock = SimulatedClock(datetime(2025, 1, 2, 8, tzinfo=WIB))

    def maybe_pack(plain: bytes) -> bytes:
        if packing == "all" or (packing == "mixed" and clock.now().date() >= UPGRADED_ON):
            return pack(plain)
        return plain

    with monkeypatch.context() as patched:
        patched.setattr(eventstore.mapper, "pack", maybe_pack)
        patched.setattr(commands.bulk, "pack", maybe_pack)
        ledger = bootstrap(f"sqlite:///{folder / 'ledger.db'}", clock=clock)
        _scenario(ledger, clock, PLAN)
        ledger.close()
    ledger = bootstrap(f"sqlite:///{folder / 'ledger.db'}", clock=clock)  # read with today's code
    try:
        assert verify(ledger.store)["ok"]
        events = []
        for n in ledger.store.select_notifications(1, 10_000):
            data = json.loads(ledger.store.mapper.plain_state(n.state))
            ledger.store.mapper.to_domain_event(n)  # decodes to its event
            events.append((n.id, n.topic, bytes(n.state)[:1], data))
        return _reports(ledger, date(2025, 6, 30)), events
    finally:
        ledger.close()


def test_a_store_of_old_plain_events_and_new_packed_ones_reads_as_an_all_plain_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same log three times: all plain (an old store), plain until an upgrade then packed, all packed. The
    reports are identical, the chain verifies on each, every event decodes to the same JSON."""
    reports_plain, events_plain = _log(tmp_path / "none", monkeypatch, "none")
    reports_mixed, events_mixed = _log(tmp_path / "mixed", monkeypatch, "mixed")
    reports_packed, events_packed = _log(tmp_path / "all", monkeypatch, "all")
    assert reports_mixed == reports_plain and reports_packed == reports_plain
    # ids, seals and digests differ between any two runs (keys, nonces); what each event is does not
    assert [e[:2] for e in events_mixed] == [e[:2] for e in events_plain] == [e[:2] for e in events_packed]
    assert [sorted(e[3]) for e in events_mixed] == [sorted(e[3]) for e in events_plain]
    assert {e[2] for e in events_plain} == {b"{"} and {e[2] for e in events_packed} == {b"\x01"}
    marks = [e[2] for e in events_mixed]
    switch = marks.index(b"\x01")
    assert switch > 0 and set(marks[:switch]) == {b"{"} and set(marks[switch:]) == {b"\x01"}, marks
