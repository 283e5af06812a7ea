"""Clocks: the ledger's recorded time comes from one of these, so tests and the demo can play months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from ledger.business_time import WIB

__all__ = ["WIB", "Clock", "SimulatedClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """A timezone-aware instant."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that stands still until moved: the demo and the tests play months with it.

    Invariant: time never goes backwards and every reading is later than the previous one.
    """

    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is not None, "start must be timezone-aware"
        self._now = start
        self._tick = timedelta(microseconds=1)

    def now(self) -> datetime:
        # strictly increasing, so recorded times order like the log even within one instant
        self._now += self._tick
        return self._now

    def set(self, instant: datetime) -> None:
        """Move to ``instant``; an earlier instant leaves the clock where it is (it never goes back)."""
        assert instant.tzinfo is not None, "instant must be timezone-aware"
        self._now = max(self._now, instant)

    def set_day(self, day: date, hour: int = 9) -> None:
        self.set(datetime(day.year, day.month, day.day, hour, tzinfo=WIB))

