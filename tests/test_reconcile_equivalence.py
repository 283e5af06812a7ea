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
from pathlib import Path

import pytest

from bench.reconcile import generate
from commands import statement_file
from commands.statement_file import read_statement
from ledger.errors import InvalidInput
from ledger.reconciliation import ReconciliationResult, StatementLine, reconcile

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


def _read(path: Path, **kw: object) -> object:
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
