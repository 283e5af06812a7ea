"""Reports kept by what they are a function of, for a long-running face (the HTTP API) that reads the same reports
again and again: the report's parameters, the business days it may answer for, and the log's head when it was
asked. A write moves the head, so no entry is ever served for a log it was not built from.

Invariants:
- a hit is the report the same parameters built at the same head on the same day: the log below the head never
  changes, so it is the report a rebuild would give (``generated_at`` says when it was built);
- at most ``entries_max`` reports are kept (least recently used dropped first);
- a report being built is built once: concurrent askers of the same key wait for it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from ledger.business_time import WIB, WIT, WITA

ENTRIES_MAX = 32
"""Reports kept per process; a demo-sized report is a few hundred kilobytes of rows."""


def days_of(now: datetime) -> tuple[str, str, str]:
    """Today in WIB, WITA and WIT: what a report without ``on`` answers for (by its region's zone)."""
    return tuple(now.astimezone(zone).date().isoformat() for zone in (WIB, WITA, WIT))  # type: ignore[return-value]


class ReportCache:
    """The reports of the module's docstring, thread-safe."""

    def __init__(self, entries_max: int = ENTRIES_MAX) -> None:
        assert entries_max >= 1
        self.entries_max = entries_max
        self._entries: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_build(self, key: Hashable, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The report kept under ``key`` (with the head and today in it: see :func:`report_key`), or ``build()``."""
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return self._entries[key]
                waiting = self._building.get(key)
                if waiting is None:
                    done = self._building[key] = threading.Event()
                    self.misses += 1
                    break
            waiting.wait()  # another thread builds it: take its result (or build it if that failed)
        try:
            report = build()
            with self._lock:
                self._entries[key] = report
                self._entries.move_to_end(key)
                while len(self._entries) > self.entries_max:
                    self._entries.popitem(last=False)
            return report
        finally:
            with self._lock:
                del self._building[key]
            done.set()


def report_key(name: str, on: object, as_of: object, agreement: str | None, period: str | None, head: int,
               now: datetime) -> Hashable:
    """What a report is a function of: its parameters, the log's head, and (for a report without ``on``, or one
    that checks ``on`` against today) today in the three zones."""
    return (name, str(on), str(as_of), agreement, period, head, days_of(now))
