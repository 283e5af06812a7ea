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
from commands.statement_file import read_statement
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
