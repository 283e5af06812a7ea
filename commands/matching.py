"""Matching the new statement lines of many payers: :func:`ledger.reconciliation.reconcile` once per payer, on
two cores when there are many lines (``jamsos reconcile run``, and ``bench.reconcile`` which times this path).

Each payer's matching depends only on that payer's lines, invoices and known transfers, so the payers can be
matched in any process: the results are the same, in the same order, as one in-process loop over the payers.
On two processes (``parallel=True``, or by size when :data:`TWO_PROCESSES_BY_SIZE` is on: at least
:data:`PARALLEL_FROM` lines in all, a fork-able process with no other thread running and a core idle, see
:func:`_parallel_ok`), the payers are cut, in their order, into two runs of about equal work; a forked child
matches the second while this process matches the first (the child reads its payers from the memory it shares
with this process at the fork: nothing is sent to it), and sends its results back compactly (line and invoice
positions, rule and kind numbers, reasons); this process rebuilds them around its own line objects. Below the
crossover (fork, start-up and sending back cost more than half the matching) everything runs in process.

Errors are those of the loop: when a payer's matching refuses its input (``InvalidInput``: a line given twice,
two invoices with one reference), the first such payer in order raises here, exactly as in the loop (a payer of
the child's run is matched again in process to raise its error). If the child cannot be started or dies, its
payers are matched in process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import NamedTuple

from eventstore.gc_pause import paused_gc
from ledger.errors import LedgerError
from ledger.events import ExceptionKind, MatchRule
from ledger.reconciliation import (
    Match,
    OpenInvoice,
    ReconciliationResult,
    StatementLine,
    Unreconciled,
    reconcile,
)

TWO_PROCESSES_BY_SIZE = False
"""Off: on the 2-core development machine (a KVM guest) two processes are not faster than one. Matching a million
lines (bench.reconcile): 3.3 s in process; on two processes 3.1-4.8 s wall for 5.4-5.6 s of CPU (each process
runs ~1.6 times slower beside the other: the two vCPUs do not behave as two cores, and the pages both touch are
copied), and far slower beside another engineer's tests. Turn it on where the cores are real, after
``python -m bench.reconcile --crossover`` shows a ratio below 1."""
PARALLEL_FROM = 100_000
"""With :data:`TWO_PROCESSES_BY_SIZE`, the lines (all payers together) from which matching uses a second process:
below it the fork (~20 ms), the idle-CPU sample (50 ms) and sending the results back cost more than a second core
could save (~0.3 s of matching at 100,000 lines; ``bench.reconcile --crossover`` times both ways)."""
CHILD_SHARE = 0.47
"""The child's part of the work: a little less than half, as this process also rebuilds the child's results."""


class PayerLines(NamedTuple):
    """One payer's part of a run: its new lines, its open invoices and the transfers recorded before."""

    payer_id: str
    lines: Sequence[StatementLine]
    invoices: Sequence[OpenInvoice]
    known_transfers: Collection[tuple[str, int, date]] = ()


_RULES = tuple(MatchRule)
_KINDS = tuple(ExceptionKind)
_RULE_CODE = {rule: code for code, rule in enumerate(_RULES)}
_KIND_CODE = {kind: code for code, kind in enumerate(_KINDS)}

# One payer's results sent back by the child: matches as (line position, rule, invoice positions, allocations),
# exceptions as (line position, kind, reason, candidate positions); positions into the payer's lines / invoices.
# None for a payer whose matching raised (matched again in process, to raise there).
_Sent = tuple[list[tuple[int, int, tuple[int, ...], tuple[int, ...]]],
              list[tuple[int, int, str, tuple[int, ...]]]] | None

last_processes = 1
"""How many processes the last :func:`reconcile_payers` call of this process used (for ``bench.reconcile``)."""

_jobs: Sequence[PayerLines] = ()
"""The payers of the run being matched: set before the fork, read by the child from the shared memory."""
_on: date | None = None


def reconcile_payers(
    jobs: Sequence[PayerLines], *, on: date | None = None, parallel: bool | None = None
) -> list[ReconciliationResult]:
    """``[reconcile(j.lines, j.invoices, payer_id=j.payer_id, known_transfers=j.known_transfers, on=on)
    for j in jobs]``, on two processes when asked or, with :data:`TWO_PROCESSES_BY_SIZE`, when large (see the
    module docstring). ``parallel``: True or False to force it (tests, measurements), None to decide."""
    global last_processes
    total = sum(len(j.lines) for j in jobs)
    if parallel is None:
        parallel = TWO_PROCESSES_BY_SIZE and total >= PARALLEL_FROM and _parallel_ok()
    if not parallel or len(jobs) < 2:
        last_processes = 1
        with paused_gc():  # millions of small acyclic objects: no full collections meanwhile
            return [_one(job, on) for job in jobs]
    last_processes = 2
    cut = _cut(jobs)
    with paused_gc():
        return _two_processes(jobs, cut, on)


def _one(job: PayerLines, on: date | None) -> ReconciliationResult:
    return reconcile(job.lines, job.invoices, payer_id=job.payer_id, known_transfers=job.known_transfers, on=on)


def _parallel_ok() -> bool:
    """A child by fork only: the others would have to be sent every line. Not beside other threads (a web
    server's, a projection follower's): a forked child would inherit their locks in whatever state they are.
    And only with a core to spare now (:func:`spare_cores`): on a machine already busy the two processes share
    one core, and the fork, the copied pages and the results sent back make it slower than one (measured: a
    million lines 3.9 s in process, ~5 s on two processes beside one other busy process)."""
    if sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    if threading.active_count() != 1 or (os.cpu_count() or 1) < 2:
        return False
    return spare_cores() >= SPARE_CORES_MIN


SPARE_CORES_MIN = 1.5
"""Idle CPU (in cores) needed, over :data:`SAMPLE_S` while this process waits, to start the second process: this
process will take one of them again and the child needs another (the sample showed 1.0-2.0 on the 2-core machine
beside another engineer's test run, 2.0 when nothing else runs)."""
SAMPLE_S = 0.05


def spare_cores(sample_s: float = SAMPLE_S) -> float:
    """The idle CPU of the machine over ``sample_s`` seconds while this process sleeps, in cores (Linux
    ``/proc/stat``, whose ticks are 1/100 s: over 50 ms, steps of 0.1 core on 2 cores; 0 when it cannot be read).
    A sample, not the load average: that lags by a minute and counts this process's own past work."""
    def idle_total() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks[:8])  # idle + iowait; user .. steal

    try:
        idle0, total0 = idle_total()
        time.sleep(sample_s)
        idle1, total1 = idle_total()
    except (OSError, ValueError, IndexError):
        return 0.0
    if total1 <= total0:
        return 0.0
    return (idle1 - idle0) / (total1 - total0) * (os.cpu_count() or 1)


def _cut(jobs: Sequence[PayerLines]) -> int:
    """The first payer of the child's run: the payers before it carry about 1 − CHILD_SHARE of the work
    (lines + invoices; at least one payer on each side)."""
    weights = [len(j.lines) + len(j.invoices) for j in jobs]
    goal = sum(weights) * (1 - CHILD_SHARE)
    acc = 0
    for i, w in enumerate(weights):
        if acc + w / 2 > goal:
            return min(max(i, 1), len(jobs) - 1)
        acc += w
    return len(jobs) - 1


def _two_processes(jobs: Sequence[PayerLines], cut: int, on: date | None) -> list[ReconciliationResult]:
    global _jobs, _on
    _jobs, _on = jobs, on
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
        try:
            future = pool.submit(_child, cut, len(jobs))  # forks here: the child sees _jobs as they are now
            head = [_one(job, on) for job in jobs[:cut]]  # raises as the loop would: these payers come first
            try:
                sent = future.result()
            except (BrokenProcessPool, OSError):
                sent = None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _jobs, _on = (), None
    if sent is None:  # the child could not run: its payers here
        return head + [_one(job, on) for job in jobs[cut:]]
    return head + [_rebuild(job, got, on) for job, got in zip(jobs[cut:], sent, strict=True)]


def _child(start: int, stop: int) -> list[_Sent]:
    """In the child: the payers ``_jobs[start:stop]``, each result in the compact form of :data:`_Sent`."""
    out: list[_Sent] = []
    for job in _jobs[start:stop]:
        try:
            result = _one(job, _on)
        except LedgerError:
            out.append(None)
            continue
        line_at = {id(line): i for i, line in enumerate(job.lines)}
        invoice_at = {inv.invoice_id: i for i, inv in enumerate(job.invoices)}
        matches = [(line_at[id(m.line)], _RULE_CODE[m.rule], tuple([invoice_at[x] for x in m.invoice_ids]),
                    m.allocations_rp) for m in result.matches]
        exceptions = [(line_at[id(x.line)], _KIND_CODE[x.kind], x.reason,
                       tuple([invoice_at[c] for c in x.candidate_invoice_ids])) for x in result.exceptions]
        out.append((matches, exceptions))
    return out


def _rebuild(job: PayerLines, got: _Sent, on: date | None) -> ReconciliationResult:
    if got is None:
        return _one(job, on)  # raises the payer's error, as the in-process loop does
    lines, invoices = job.lines, job.invoices
    matches, exceptions = got
    new = tuple.__new__  # Match's generated __new__ is a Python call: made as the tuple it is
    return ReconciliationResult(
        tuple([new(Match, (lines[i], _RULES[rule], tuple([invoices[k].invoice_id for k in ks]), alloc))
               for i, rule, ks, alloc in matches]),
        tuple([Unreconciled(lines[i], _KINDS[kind], reason, tuple([invoices[k].invoice_id for k in ks]))
               for i, kind, reason, ks in exceptions]),
    )
