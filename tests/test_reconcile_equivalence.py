"""Reading and matching a generated statement give exactly what the code before the performance work gave.

The digests below were computed with the code of main at 4667a0e (frozen-dataclass StatementLine, csv.reader for
every CSV, one in-process ``reconcile`` call per payer) on the statements ``bench.reconcile.generate`` writes for
its fixed seed: every line read (all fields), then every match and exception of every payer (line, rule or kind,
reason, invoices, allocations) in order. A change of any read field, outcome, reason or order changes a digest.
(They depend on the generator too: a change to ``bench.reconcile.generate`` must recompute them from the old code.)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest

from bench.reconcile import generate
from commands import matching, statement_file
from commands.matching import PayerLines, reconcile_payers
from commands.statement_file import read_statement
from ledger.errors import InvalidInput
from ledger.events import ExceptionKind
from ledger.reconciliation import OpenInvoice, ReconciliationResult, StatementLine, reconcile, reference_tokens

SEED = 20260101
FIELDS = ("statement_id", "line_no", "reference", "booked_on", "amount_rp", "account", "description", "value_on")

# (lines, payers) -> (statement sha256, digest of the lines read, digest of the outcomes)
GOLDEN = {
    (6000, 120): ("fa26df341ec3deef9eda402513067339f9a55013e4758bdfe0ffb88664dcdd09",
                  "9c8985626f439c5a65230689b51fc1451a1be043e1d33ef36729f457512a649c",
                  "3ec0d1c9a04f33b3341288ab5189e3350deb417ba59a0b4c91c711dbd525b91d"),
    (4000, 4): ("feca9634e368526bb61309f07cf3963514f88da59833d607ef0b43e3ecb80f3c",
                "92129af9416f0536b127a337fd94f5c8082d433229991133f3263bba30373bc7",
                "ed9b2433f2861ee92e4ca94fe350a053d29fc69bdd6ea9d0d538942b9f366c8c"),
}


def fields(line: StatementLine) -> tuple[object, ...]:
    return tuple(getattr(line, f) for f in FIELDS)


def lines_digest(lines: Iterable[StatementLine]) -> str:
    return hashlib.sha256(repr([fields(x) for x in lines]).encode()).hexdigest()


def outcomes_digest(results: Iterable[tuple[str, ReconciliationResult]]) -> str:
    h = hashlib.sha256()
    for payer, res in results:
        h.update(f"P {payer}\n".encode())
        for m in res.matches:
            h.update(f"M {fields(m.line)!r} {m.rule.value} {m.invoice_ids!r} {m.allocations_rp!r}\n".encode())
        for x in res.exceptions:
            h.update(f"X {fields(x.line)!r} {x.kind.value} {x.reason!r} {x.candidate_invoice_ids!r}\n".encode())
    return h.hexdigest()


def by_payer(lines: Iterable[StatementLine]) -> dict[str, list[StatementLine]]:
    """The lines per payer, in first-seen order of the accounts (the generator's account 9NNNNNNNNN = payer N)."""
    groups: dict[str, list[StatementLine]] = defaultdict(list)
    for ln in lines:
        groups[f"PAYER-{int(ln.account[1:]):06d}"].append(ln)
    return groups


@pytest.mark.parametrize(("n_lines", "n_payers"), sorted(GOLDEN))
def test_read_and_match_as_before(tmp_path: Path, n_lines: int, n_payers: int) -> None:
    path = tmp_path / "statement.csv"
    invoices = generate(path, n_lines, n_payers, SEED)
    stmt = read_statement(path)
    sha, read_digest, outcome_digest = GOLDEN[(n_lines, n_payers)]
    assert stmt.sha256 == sha, "the generator changed: recompute the digests from the old code"
    assert lines_digest(stmt.lines) == read_digest
    results = [(payer, reconcile(group, invoices[payer], payer_id=payer))
               for payer, group in by_payer(stmt.lines).items()]
    assert outcomes_digest(results) == outcome_digest


# -- the CSV reader: plain lines cut with str.split read as csv.reader reads them ---------------------------------

_META = "# period: 2026-01-01..2026-01-31\n# account: 1234567890\n"
_HEAD = "sp2d_number,date,amount,account,description"
_ROWS = "00123/SP2D/LS/2026,2026-01-05,16800,111,INV-A-01\n00124/SP2D/LS/2026,07/01/2026,Rp 33.600,, INV-A-02 \n"
CSV_CASES = {
    "plain": _META + _HEAD + "\n" + _ROWS,
    "crlf": (_META + _HEAD + "\n" + _ROWS).replace("\n", "\r\n"),
    "no final newline": _META + _HEAD + "\n" + _ROWS.rstrip("\n"),
    "semicolons": _META + (_HEAD + "\n" + _ROWS).replace(",", ";").replace("Rp 33.600", "33.600,00"),
    "blank rows": _META + _HEAD + "\n\n" + _ROWS.replace("\n", "\n   \n,,,,\n", 1) + "\n \t\n",
    "value dates": _META + _HEAD + ",value_date\n" + _ROWS.replace("\n", ",2026-01-04\n", 1).replace(
        " \n", " ,  \n"),
    "account from the header": "# period: 2026-01-01..2026-01-31\n# account: 999\n" + _HEAD + "\n" + _ROWS,
    "bom and blank lines before the header": "\ufeff\n" + _META + "   \n" + _HEAD + "\n" + _ROWS,
    "a lone carriage return": _META + _HEAD + "\n" + _ROWS.replace("\n", "\r", 1),
    "quoted": _META + _HEAD + "\n" + _ROWS + '"00125/SP2D/LS/2026",2026-01-09,"16.800",111,"a, b"\n',
    "too few cells": _META + _HEAD + "\n" + _ROWS + "00126/SP2D/LS/2026,2026-01-09,16800\n",
    "no reference": _META + _HEAD + "\n" + _ROWS + "  ,2026-01-09,16800,111,x\n",
    "bad amount": _META + _HEAD + "\n" + _ROWS + "00126/SP2D/LS/2026,2026-01-09,16.800.5,111,x\n",
    "bad value date": _META + _HEAD + ",value_date\n" + _ROWS.replace("\n", ",2026-02-30\n"),
    "outside the period": _META + _HEAD + "\n" + _ROWS.replace("2026-01-05", "2026-02-05"),
    "header only": _META + _HEAD + "\n",
    "no header": _META + "\n  \n",
}


def _read(path: Path, **kw: object) -> tuple[object, ...]:
    try:
        stmt = read_statement(path, **kw)  # type: ignore[arg-type]
    except InvalidInput as err:
        return ("refused", err.field, err.reason)
    return (stmt.sha256, stmt.account, stmt.period_start, stmt.period_end, stmt.opening_rp, stmt.closing_rp,
            [fields(x) for x in stmt.lines])


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_split_lines_read_as_csv_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    path = tmp_path / "stmt.csv"
    path.write_bytes(CSV_CASES[case].encode())
    fast = _read(path)
    monkeypatch.setattr(statement_file, "_plain_lines", lambda rest: None)  # every file through csv.reader
    assert _read(path) == fast


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_line_limit_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    path = tmp_path / "stmt.csv"
    path.write_bytes(CSV_CASES["blank rows"].encode())
    fast = _read(path, line_limit=limit)
    monkeypatch.setattr(statement_file, "_plain_lines", lambda rest: None)
    assert _read(path, line_limit=limit) == fast
    assert (fast[0] == "refused") == (limit < 2)


# -- matching many payers: on two processes exactly as in process -----------------------------------------------


def _jobs(tmp_path: Path, n_lines: int, n_payers: int) -> list[PayerLines]:
    path = tmp_path / "statement.csv"
    invoices = generate(path, n_lines, n_payers, SEED)
    return [PayerLines(payer, group, invoices[payer]) for payer, group in by_payer(read_statement(path).lines).items()]


@pytest.mark.parametrize(("n_lines", "n_payers"), sorted(GOLDEN))
def test_two_processes_match_as_before(tmp_path: Path, n_lines: int, n_payers: int) -> None:
    jobs = _jobs(tmp_path, n_lines, n_payers)
    expected = GOLDEN[(n_lines, n_payers)][2]
    for parallel in (True, False, None):  # forced on, off, and by size (in process: small)
        results = reconcile_payers(jobs, parallel=parallel)
        assert outcomes_digest(zip([j.payer_id for j in jobs], results, strict=True)) == expected, parallel


def test_two_processes_with_known_transfers_and_a_date(tmp_path: Path) -> None:
    """known_transfers and ``on`` reach the child's payers as the in-process ones."""
    jobs = _jobs(tmp_path, 3000, 30)
    jobs = [j._replace(known_transfers={(x.reference, x.amount_rp, x.booked_on) for x in j.lines[::7]})
            for j in jobs]
    on = date(2026, 12, 31)
    alone = [reconcile(j.lines, j.invoices, payer_id=j.payer_id, known_transfers=j.known_transfers, on=on)
             for j in jobs]
    assert reconcile_payers(jobs, on=on, parallel=True) == alone
    assert sum(len(r.exceptions) for r in alone[len(alone) // 2:]) > 0  # the child's half has exceptions too


def test_two_processes_raise_the_first_error_in_order(tmp_path: Path) -> None:
    """A payer of the child's half whose input is refused raises in the parent, the same error as the loop's; of
    two refused payers, the first in order."""
    jobs = _jobs(tmp_path, 2000, 20)
    last, late = jobs[-1], jobs[-3]
    jobs[-1] = last._replace(lines=[*last.lines, last.lines[0]])  # a line given twice
    with pytest.raises(InvalidInput) as alone:
        [reconcile(j.lines, j.invoices, payer_id=j.payer_id) for j in jobs]
    with pytest.raises(InvalidInput) as both:
        reconcile_payers(jobs, parallel=True)
    assert (both.value.field, both.value.reason) == (alone.value.field, alone.value.reason)
    jobs[-3] = late._replace(invoices=[*late.invoices, late.invoices[0]])  # an invoice given twice, earlier
    with pytest.raises(InvalidInput, match="given twice") as first:
        reconcile_payers(jobs, parallel=True)
    assert "invoice_id" in first.value.reason


def test_small_runs_stay_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_fork(*args: object, **kwargs: object) -> None:
        raise AssertionError("forked for a small run")

    monkeypatch.setattr(matching, "_two_processes", no_fork)
    jobs = _jobs(tmp_path, 2000, 20)
    assert len(reconcile_payers(jobs)) == len(jobs)
    monkeypatch.setattr(matching, "PARALLEL_FROM", 1)
    assert len(reconcile_payers(jobs)) == len(jobs)  # by size: off by default
    monkeypatch.setattr(matching, "TWO_PROCESSES_BY_SIZE", True)
    monkeypatch.setattr(matching, "spare_cores", lambda: 0.0)  # a busy machine: in process too
    assert len(reconcile_payers(jobs)) == len(jobs)


def test_two_processes_by_size_when_on_and_idle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 2000, 20)
    alone = reconcile_payers(jobs, parallel=False)
    monkeypatch.setattr(matching, "TWO_PROCESSES_BY_SIZE", True)
    monkeypatch.setattr(matching, "PARALLEL_FROM", 1000)
    monkeypatch.setattr(matching, "spare_cores", lambda: 2.0)
    assert reconcile_payers(jobs) == alone
    assert matching.last_processes == (2 if matching._parallel_ok() else 1)


# -- which invoices a line names: as tokenising the whole text (reference_tokens) says ----------------------------

TRICKY_TEXTS = [
    "bayar INV-A-01", "xINV-A-01", "-INV-A-01", "INV-A-01.", "a/INV-A-01", "INV-A-01/INV-A-02", "INV-A-011",
    "\ufb01INV-A-01", "inv-a-01,inv-a-02", "INV-A-02 INV-A-01", "..INV-A-01..", "INV-A-0", "INV-A-01INV-A-02",
    "SP2D INV-A-0 INV-A-02", "x INV-A-0x INV-A-01", "stra\xdfe INV-A-01", "INV-B-01", "", "INV-A-01\u00a0INV-A-02",
]


@pytest.mark.parametrize("refs", [("INV-A-01", "INV-A-02"), ("INV-A-01",), ("INV-A-01", "XX-9"), ()])
def test_named_invoices_as_whole_text_tokens(refs: tuple[str, ...]) -> None:
    day = date(2026, 3, 1)
    invoices = [OpenInvoice(f"id-{ref}", ref, "P", day, 16_800) for ref in refs]
    for n, text in enumerate(TRICKY_TEXTS, start=1):
        for reference, description in ((f"SP2D-{n}", text), (text.strip() or f"SP2D-{n}", "")):
            line = StatementLine("s", n, reference, day, 1, "", description, day)
            (x,) = reconcile([line], invoices, payer_id="P").exceptions
            named = [t for t in reference_tokens(reference, description) if t in {r.upper() for r in refs}]
            assert x.candidate_invoice_ids == tuple(f"id-{r}" for r in refs if r.upper() in named), (text, x)
            assert (x.kind is ExceptionKind.AMOUNT_MISMATCH) == bool(named), (text, x)


def test_paused_gc_ages_what_it_made() -> None:
    import gc

    from eventstore.gc_pause import paused_gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        kept = [[i] for i in range(5000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 100  # nothing left for the next young collection to scan
    assert all(gc.is_tracked(x) for x in kept[:3])
    gc.freeze()  # a process that keeps objects frozen: left as it is
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            kept.append([1])
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
