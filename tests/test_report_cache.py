"""Reports kept by the log's head: asked again before a write, a report is the one already built; after a write it
is built anew; the cache never answers a principal the report is not for."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any

import pytest

from eventstore.bootstrap import Ledger
from eventstore.clock import WIB
from ledger.values import Role
from projections.report_cache import ReportCache, report_key
from tests.api_support import bearer, client
from tests.conftest import at, grant
from tests.test_behaviour import AGREEMENT, enrol, pay, sign


def test_one_build_per_key_even_when_asked_at_once() -> None:
    cache = ReportCache(entries_max=2)
    builds: list[int] = []
    gate = threading.Event()

    def build() -> dict[str, Any]:
        gate.wait()
        builds.append(1)
        return {"n": len(builds)}

    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_build("k", build))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join()
    assert builds == [1] and results == [{"n": 1}] * 8
    assert (cache.hits, cache.misses) == (7, 1)


def test_the_least_recently_used_report_goes_first_and_a_failed_build_keeps_nothing() -> None:
    cache = ReportCache(entries_max=2)
    for key in ("a", "b", "a", "c"):  # b is the least recently used when c arrives
        cache.get_or_build(key, lambda key=key: {"key": key})
    assert cache.get_or_build("b", lambda: {"key": "b again"}) == {"key": "b again"}

    def broken() -> dict[str, Any]:
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        cache.get_or_build("d", broken)
    assert cache.get_or_build("d", lambda: {"key": "d"}) == {"key": "d"}


def test_a_key_names_the_head_and_the_days() -> None:
    noon = datetime(2026, 1, 31, 12, tzinfo=WIB)
    late = datetime(2026, 1, 31, 23, 30, tzinfo=WIB)  # already 1 February in WITA and WIT
    assert report_key("balances", None, None, None, None, 10, noon) != report_key(
        "balances", None, None, None, None, 11, noon)
    assert report_key("balances", None, None, None, None, 10, noon) != report_key(
        "balances", None, None, None, None, 10, late)


def test_a_report_asked_again_is_kept_until_the_next_write(memory_ledger: Ledger) -> None:
    sign(memory_ledger)
    enrol(memory_ledger, 1)
    enrol(memory_ledger, 2)
    at(memory_ledger.clock, date(2025, 1, 7))  # type: ignore[arg-type]
    auditor = grant(memory_ledger, "auditor", Role.AUDITOR)
    api = client(memory_ledger)
    cache: ReportCache = api.app.state.reports  # type: ignore[attr-defined]
    query = {"on": "2025-01-07"}
    first = api.get("/api/v1/reports/balances", params=query, headers=bearer(auditor))
    again = api.get("/api/v1/reports/balances", params=query, headers=bearer(auditor))
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and cache.hits == 1
    pay(memory_ledger, 1, ["2025-01"], 16_800, "SP2D-1", on=date(2025, 1, 7))
    after = api.get("/api/v1/reports/balances", params=query, headers=bearer(auditor))
    assert cache.misses == 2 and after.json()["totals"]["paid_rp"] == first.json()["totals"]["paid_rp"] + 16_800


def test_a_kept_report_is_refused_to_whom_it_is_not_for(memory_ledger: Ledger) -> None:
    sign(memory_ledger)
    enrol(memory_ledger, 1)
    auditor = grant(memory_ledger, "auditor", Role.AUDITOR)
    elsewhere = grant(memory_ledger, "ptk-finance", Role.FINANCE, scope="region:61.71")
    api = client(memory_ledger)
    query = {"on": "2025-01-06", "agreement": AGREEMENT}
    assert api.get("/api/v1/reports/balances", params=query, headers=bearer(auditor)).status_code == 200
    refused = api.get("/api/v1/reports/balances", params=query, headers=bearer(elsewhere))
    assert refused.status_code == 403 and AGREEMENT not in refused.text
