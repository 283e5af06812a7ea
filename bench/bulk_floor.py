"""The floors under :mod:`bench.bulk_write`'s bulk path: the very rows it wrote, written again without deciding.

The raw baseline writes the events in one transaction, with no chain and no snapshot. The bulk path writes them
command by command (each command commits on its own, so that a cohort payment is all or nothing and an
interrupted run resumes), links each transaction's events into the audit chain, and upserts every changed
member's snapshot row. Each floor adds one of those to the raw baseline, so the report can say which of them
stands between the bulk path and its target (the figures are comparable within one run only):

- ``commits``: the raw table again, one transaction per command;
- ``chain``: a fresh ledger store, ``store.write_rows(events)`` per command: events, notification ids checked,
  the chain's leaves and row;
- ``full``: another fresh ledger store, ``store.write_rows(events, snapshot rows, states)`` per command: every
  row the bulk path writes, built beforehand. No code that decides can run faster than this.

Each floor's ratio is ``events / floor s / raw rows/s``, as the bulk path's is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bench.bulk_targets import RawRow, Target, log, timed
from eventstore.bootstrap import Ledger
from eventstore.clock import SimulatedClock
from eventstore.store import SnapshotParams

FLOORS = ("commits", "chain", "full")


@dataclass(frozen=True)
class FloorRun:
    """Seconds each floor took for the same events (see the module's docstring)."""

    commits_s: float
    chain_s: float
    full_s: float


@dataclass(frozen=True)
class CommandRows:
    """What one command wrote: its events in log order, and the snapshot rows and states it left."""

    events: list[RawRow]
    snapshots: list[SnapshotParams]
    states: dict[bytes, bytes]


def command_chunks(rows: Sequence[RawRow], first_id: int, marks: Sequence[int]) -> list[list[RawRow]]:
    """``rows`` (notification ids ``first_id + 1, ...``) cut at each command's last notification id in ``marks``."""
    chunks: list[list[RawRow]] = []
    start = 0
    for mark in marks:
        end = mark - first_id
        assert start <= end <= len(rows), (start, end, len(rows))
        if end > start:
            chunks.append(list(rows[start:end]))
        start = end
    assert start == len(rows), "every row belongs to a command"
    return chunks


def with_snapshots(ledger: Ledger, chunks: Sequence[list[RawRow]]) -> list[CommandRows]:
    """Each chunk with the snapshot row of every aggregate it touches, at the version it left (the state
    columns and bytes are the aggregate's final ones: the same row sizes as each write's own)."""
    ids = list({row[0] for chunk in chunks for row in chunk})
    final = ledger.store.snapshots(ids)
    out: list[CommandRows] = []
    for chunk in chunks:
        last_version: dict[uuid.UUID, int] = {}
        for aggregate_id, version, _, _ in chunk:
            last_version[aggregate_id] = version
        rows = [final[i] for i in last_version if i in final]
        out.append(CommandRows(
            events=chunk,
            snapshots=[r.params_for(r.aggregate_id, last_version[r.aggregate_id]) for r in rows],
            states={r.state_hash: r.state for r in rows},
        ))
    return out


def write_through_store(target: Target, clock: SimulatedClock, name: str, commands: Sequence[CommandRows],
                        snapshots: bool) -> float:
    """Seconds to write ``commands`` into a fresh ledger store ``name``, one ``write_rows`` (one transaction)
    each; with or without their snapshot rows."""
    ledger = target.open_ledger(clock, name)
    try:
        def write() -> None:
            for command in commands:
                if snapshots:
                    ledger.store.write_rows(command.events, command.snapshots, command.states)
                else:
                    ledger.store.write_rows(command.events, [], {})
        _, seconds = timed(write)
        written = ledger.store.max_notification_id()
    finally:
        ledger.close()
    events = sum(len(c.events) for c in commands)
    assert written == events, f"the {name} floor wrote {written} events of {events}"
    return seconds


def measure_floors(target: Target, clock: SimulatedClock, commands: Sequence[CommandRows]) -> FloorRun:
    """The three floors of the module's docstring, for the same rows, in this order."""
    commits_s, _ = target.raw_insert([c.events for c in commands], name="commits")
    chain_s = write_through_store(target, clock, "floor_chain", commands, snapshots=False)
    full_s = write_through_store(target, clock, "floor_full", commands, snapshots=True)
    log(f"  floors ({len(commands)} transactions): raw per command {commits_s:.2f}s, + chain {chain_s:.2f}s, "
        f"+ snapshot rows {full_s:.2f}s")
    return FloorRun(commits_s=commits_s, chain_s=chain_s, full_s=full_s)
