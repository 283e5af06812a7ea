"""Matching a payer's bank-statement lines (rekening koran) against its open invoices.

Pure and deterministic: no I/O, no clock. The readers of :mod:`commands.statement_file` turn a file into
:class:`StatementLine` values; :func:`reconcile` decides, line by line, which open invoice(s) each transfer
pays, or why it cannot be matched. The caller records the outcome (events, journal); nothing here writes.

The numbers of the cascade (date window, group size) live in :data:`MATCHING_RULES`, versioned by date in
the style of :mod:`ledger.tariff`: a changed practice gets a new version, old decisions keep their meaning.
The cascade and its numbers: docs/rules.md#reconciliation-matching.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from operator import attrgetter
from typing import NamedTuple

from ledger.errors import InvalidInput
from ledger.events import ExceptionKind, MatchRule
from ledger.values import format_rp, in_force


class _StatementLineFields(NamedTuple):
    statement_id: str
    line_no: int
    reference: str
    booked_on: date
    amount_rp: int
    account: str
    description: str
    value_on: date


_new_tuple = tuple.__new__


class StatementLine(_StatementLineFields):
    """One credit (money in) on a bank statement: a payer's transfer, referenced by its SP2D.

    SP2D = Surat Perintah Pencairan Dana, the treasury's disbursement order; its number is what the
    payer's treasury (BUD/BPKAD) writes on the transfer.

    Two dates, as banks write them: ``booked_on`` is the booking (entry, *tanggal pembukuan*) date, the day the
    bank put the transfer on the account and the day the statement period counts; ``value_on`` is the value date
    (*tanggal valuta*) from which the money bears interest, often a day before or after. Matching uses
    ``booked_on`` (the date window of :data:`MATCHING_RULES`); ``value_on`` is kept as the bank wrote it.

    Invariants: ``line_no >= 1``; ``reference`` is non-empty and stripped; ``amount_rp > 0`` (whole rupiah).
    ``key`` = (statement_id, line_no) identifies the line across statements.

    Immutable: a named tuple whose constructor checks the invariants (the million-line path makes one per line;
    a frozen dataclass cost ~1.6 µs a line, this ~0.3 µs). Fields by name, positionally or by keyword.
    """

    __slots__ = ()

    def __new__(
        cls, statement_id: str, line_no: int, reference: str, booked_on: date, amount_rp: int, account: str,
        description: str, value_on: date,
    ) -> StatementLine:
        if type(line_no) is not int or line_no < 1:
            raise InvalidInput("line_no", f"must be a positive integer, got {line_no!r}")
        if not reference:
            raise InvalidInput(f"line {line_no}: sp2d_number", "is required (the SP2D number of the transfer)")
        if reference != reference.strip():
            raise InvalidInput(f"line {line_no}: sp2d_number", f"has surrounding spaces: {reference!r}")
        if type(amount_rp) is not int or amount_rp <= 0:
            raise InvalidInput(f"line {line_no}: amount", f"must be whole rupiah above zero, got {amount_rp!r}")
        return _new_tuple(cls, (statement_id, line_no, reference, booked_on, amount_rp, account, description,
                                value_on))

    @property
    def key(self) -> tuple[str, int]:
        return (self.statement_id, self.line_no)


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An invoice (tagihan) issued to a payer and not yet fully paid.

    Invariants: ``outstanding_rp > 0``; ``reference`` is one token (letters, digits and ``- / . _`` inside),
    the number printed for the payer, e.g. ``INV-SKW-RENTAN-2025-2026-01``, and is unique among the invoices
    given to one :func:`reconcile` call.
    """

    invoice_id: str
    reference: str
    payer_id: str
    issued_on: date
    outstanding_rp: int

    def __post_init__(self) -> None:
        if type(self.outstanding_rp) is not int or self.outstanding_rp <= 0:
            raise InvalidInput(
                f"invoice {self.invoice_id}: outstanding_rp",
                f"must be whole rupiah above zero, got {self.outstanding_rp!r}",
            )
        if _TOKEN.fullmatch(self.reference) is None:
            raise InvalidInput(
                f"invoice {self.invoice_id}: reference",
                f"must be one token of letters, digits and - / . _ inside, got {self.reference!r}",
            )


class Match(NamedTuple):
    """A line paying one or more invoices in full (immutable: a named tuple, the cheapest to make on the
    million-line path).

    Invariants: ``invoice_ids`` non-empty, distinct, same length as ``allocations_rp``; every allocation is
    the invoice's whole outstanding (> 0) and ``sum(allocations_rp) == line.amount_rp``. A match never pays
    part of an invoice: partial payments surface as exceptions.
    """

    line: StatementLine
    rule: MatchRule
    invoice_ids: tuple[str, ...]
    allocations_rp: tuple[int, ...]


class Unreconciled(NamedTuple):
    """A line left for a person to resolve, with the invoices it might belong to (possibly none)."""

    line: StatementLine
    kind: ExceptionKind
    reason: str
    candidate_invoice_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReconciliationResult:
    """Every input line exactly once: either in ``matches`` or in ``exceptions``, each in processing order.

    Invariant: no invoice appears in two matches (its outstanding is consumed by the first).
    """

    matches: tuple[Match, ...]
    exceptions: tuple[Unreconciled, ...]


@dataclass(frozen=True, slots=True)
class MatchingRules:
    """The numbers of the matching cascade.

    - ``window_before_days`` / ``window_after_days``: an invoice is a candidate for a transfer booked on day
      B when it was issued in [B − window_before_days, B + window_after_days]. Treasuries pay after the
      invoice (SP2D needs an SPM first); a few days after covers an invoice dated later than the SP2D.
    - ``group_invoices_max``: the longest run of invoices one transfer may pay by sum (rule 3), and the most
      invoice numbers one line may name (rule 1).
    - ``candidates_max``: how many candidate invoices an AMBIGUOUS exception lists at most.
    """

    valid_from: date
    basis: str
    window_before_days: int = 62
    window_after_days: int = 7
    group_invoices_max: int = 12
    candidates_max: int = 20


MATCHING_RULES: tuple[MatchingRules, ...] = (
    # [choice] Two months back: an APBD treasury may pay an invoice in the month after next (Permendagri
    # 77/2020 disbursement cycle); 12 invoices = one fiscal year of monthly invoices in one SP2D.
    MatchingRules(valid_from=date(2015, 7, 1), basis="BPJS finance practice; Permendagri 77/2020"),
)


@cache
def matching_rules_in_force(day: date) -> MatchingRules:
    """The version of :data:`MATCHING_RULES` in force on ``day`` (cached: the table is immutable)."""
    return in_force(MATCHING_RULES, day, "matching rules", "on")


_TOKEN = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z\-/._]*[0-9A-Za-z])?")
_TOKEN_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-/._")
"""What a token is made of: a run of these, without the punctuation at its ends."""


def reference_tokens(*texts: str) -> list[str]:
    """Upper-cased tokens of ``texts``, first occurrence order, no repeats.

    A token is a maximal run of letters, digits and ``- / . _`` that starts and ends with a letter or digit,
    so ``"bayar INV-A-01, INV-A-02."`` gives ``INV-A-01`` and ``INV-A-02``, and ``INV-A-011`` never matches
    ``INV-A-01``. :func:`reconcile` finds the invoice references in a line this way (texts upper-cased first).
    """
    return list(dict.fromkeys(_TOKEN.findall(" ".join(texts).upper())))


def _first_open(nxt: list[int], i: int) -> int:
    """The first open position >= i of a skip list: ``nxt[i] == i`` when i is open, else a position closer to
    the next open one (union-find with path halving, near-constant amortised). The last position is a
    sentinel, always open. Closing i is ``nxt[i] = i + 1``."""
    while nxt[i] != i:
        nxt[i] = i = nxt[nxt[i]]
    return i


def _common_prefix(texts: Collection[str]) -> str:
    """The longest prefix every one of ``texts`` (non-empty) starts with."""
    lo, hi = min(texts), max(texts)
    n = 0
    for a, b in zip(lo, hi, strict=False):
        if a != b:
            break
        n += 1
    return lo[:n]


_INVOICE_ORDER = attrgetter("issued_on", "invoice_id")
_LINE_ORDER = attrgetter("booked_on", "statement_id", "line_no")
_LINE_KEY = attrgetter("statement_id", "line_no")
_INVOICE_IDS = attrgetter("invoice_ids")


def _refuse_repeated_lines(lines: list[StatementLine]) -> None:
    seen: set[tuple[str, int]] = set()
    for line in lines:
        if line.key in seen:
            raise InvalidInput("lines", f"line {line.line_no} of statement {line.statement_id} given twice")
        seen.add(line.key)


def _refuse_repeated(invoices: list[OpenInvoice]) -> None:
    ids: dict[str, OpenInvoice] = {}
    refs: dict[str, OpenInvoice] = {}
    for inv in invoices:
        if inv.invoice_id in ids:
            raise InvalidInput("invoices", f"invoice_id {inv.invoice_id} given twice")
        ids[inv.invoice_id] = inv
        ref = inv.reference.upper()
        if ref in refs:
            raise InvalidInput(
                "invoices", f"reference {inv.reference} is on both {refs[ref].invoice_id} and {inv.invoice_id}"
            )
        refs[ref] = inv


def reconcile(
    lines: Sequence[StatementLine],
    invoices: Sequence[OpenInvoice],
    *,
    payer_id: str,
    known_transfers: Collection[tuple[str, int, date]] = (),
    on: date | None = None,
) -> ReconciliationResult:
    """Match ``lines`` (one payer's transfers) against the payer's ``invoices``.

    Only invoices with ``payer_id`` take part; the others are ignored (pass only the payer's invoices: the
    indexes are built from what you pass). The result does not depend on the order of ``invoices``: they are
    indexed in (issued_on, invoice_id) order.

    Lines are processed in (booked_on, statement_id, line_no) order. A match pays its invoices in full, so
    an invoice matched once is closed for the lines after it. For each line, the first step that decides:

    0. **DUPLICATE**: its (reference, amount_rp, booked_on) — reference compared case-insensitively — equals
       an earlier line's in this input, or one of ``known_transfers`` (recorded from earlier statements).
       Never matched.
    1. **Reference + amount**: the line's reference or description names (token match, case-insensitive)
       the reference of one or more of the payer's invoices given here.

       - one named invoice, still open, outstanding == amount → REFERENCE_AMOUNT;
       - several named, all open, outstanding sum == amount → GROUPED (allocations in issued_on, id order);
       - otherwise → AMOUNT_MISMATCH, candidates = the named invoices (an invoice already paid by an earlier
         line counts as outstanding 0). A named invoice is never bypassed by steps 2 and 3. References of
         invoices not given here (paid before this call, or another payer's) are unknown: a line naming
         only those goes on to step 2. Partial payments are never allocated: they end as exceptions.
    2. **Amount in the date window** (no invoice named): the payer's open invoices with outstanding ==
       amount issued in [booked_on − window_before_days, booked_on + window_after_days]. Exactly one →
       AMOUNT_DATE_WINDOW; several → AMBIGUOUS (the first ``candidates_max`` listed, by issue date).
    3. **Grouped sum**: runs of 2..group_invoices_max consecutive open invoices of the payer in the window (in
       (issued_on, invoice_id) order, skipping closed ones) whose outstanding sum == amount. Exactly one run →
       GROUPED; several → AMBIGUOUS (candidates = invoices of the runs).
    4. Otherwise **UNMATCHED**.

    The rules in force on ``on`` apply to every line; with ``on=None``, those in force on each line's
    ``booked_on``.

    Cost: O((L + I) log(L + I)) to sort and index, then near O(1) per line for steps 0-2; step 3 scans
    the open invoices in the line's window, O(W × group_invoices_max) for W such invoices (at most W in
    practice: a run stops as soon as its sum reaches the amount). That is cheap for a payer's handful of
    invoices in a window, and slow when one payer has thousands of open invoices in one window (bench:
    20,000 invoices of one payer, ~4,000 per window, ~3 s for 20,000 lines), so call it once per payer.

    Raises :class:`InvalidInput` when two lines share (statement_id, line_no), two of the payer's invoices
    share an invoice_id or a reference.
    """
    mine = sorted([inv for inv in invoices if inv.payer_id == payer_id], key=_INVOICE_ORDER)
    n = len(mine)
    by_ref = {inv.reference.upper(): i for i, inv in enumerate(mine)}
    if len(by_ref) != n:
        _refuse_repeated(mine)
    if n != len({inv.invoice_id for inv in mine}):
        _refuse_repeated(mine)
    # date order (the index i above): issue days as ordinals, for the window bisects
    day_ord = [inv.issued_on.toordinal() for inv in mine]
    outstanding = [inv.outstanding_rp for inv in mine]
    # amount order: (outstanding, then date order: the sort is stable)
    amt_order = sorted(range(n), key=outstanding.__getitem__)
    amt_pos = [0] * n
    amt_days = [day_ord[i] for i in amt_order]
    amt_sorted = [outstanding[i] for i in amt_order]  # an amount's invoices: a run, found by bisection
    for p, i in enumerate(amt_order):
        amt_pos[i] = p
    open_by_date = list(range(n + 1))
    open_by_amt = list(range(n + 1))
    is_open = [True] * n

    def close(i: int) -> None:
        assert is_open[i], f"invoice {mine[i].invoice_id} allocated twice"
        is_open[i] = False
        open_by_date[i] = i + 1
        p = amt_pos[i]
        open_by_amt[p] = p + 1

    ordered = sorted(lines, key=_LINE_ORDER)
    seen_transfers: set[tuple[str, int, date]] = {(ref.upper(), amt, day) for ref, amt, day in known_transfers}
    fixed_rules = matching_rules_in_force(on) if on is not None else None
    find_tokens = _TOKEN.findall
    matches: list[Match] = []
    exceptions: list[Unreconciled] = []
    add_match = matches.append
    by_ref_has = by_ref.__contains__
    # every reference of the payer's invoices starts with their longest common prefix: a line's text without it
    # names none of them, and is not tokenised (a sixth of the lines, in practice: those naming no invoice); with
    # it, only from the run of token characters it is first found in (a token is a run, stripped: the runs before
    # hold no reference)
    common = _common_prefix(by_ref) if by_ref else "\n"  # no invoice: no text (no newline in it) can name one
    by_reference = MatchRule.REFERENCE_AMOUNT

    if len(set(map(_LINE_KEY, ordered))) != len(ordered):
        _refuse_repeated_lines(ordered)
    seen_add = seen_transfers.add
    for line in ordered:
        amount = line.amount_rp
        reference = line.reference
        before = len(seen_transfers)
        seen_add((reference.upper(), amount, line.booked_on))
        if len(seen_transfers) == before:  # the transfer was there already
            exceptions.append(Unreconciled(
                line, ExceptionKind.DUPLICATE,
                f"SP2D {reference}, {format_rp(amount)} on {line.booked_on.isoformat()} is already recorded", ()))
            continue

        # (1) reference + amount
        text = f"{reference} {line.description}".upper()
        start = text.find(common)
        if start < 0:
            hits: list[str] = []
        else:  # tokens from the run of token characters the prefix is first found in: the ones before name none
            while start and text[start - 1] in _TOKEN_CHARS:
                start -= 1
            hits = list(filter(by_ref_has, find_tokens(text, start)))
        if hits:
            i = by_ref[hits[0]]
            named = [i] if len(hits) == 1 else sorted({by_ref[t] for t in hits})
            if len(named) == 1:
                if is_open[i] and outstanding[i] == amount:
                    # close(i), inlined on the hot path (is_open[i] checked just above)
                    is_open[i] = False
                    open_by_date[i] = i + 1
                    p = amt_pos[i]
                    open_by_amt[p] = p + 1
                    # a Match, made as the tuple it is (its generated __new__ is a Python call: ~0.25 s a million)
                    add_match(_new_tuple(Match, (line, by_reference, (mine[i].invoice_id,), (amount,))))
                    continue
                owed = outstanding[i] if is_open[i] else 0
                exceptions.append(Unreconciled(
                    line, ExceptionKind.AMOUNT_MISMATCH,
                    f"names invoice {mine[i].reference} with {format_rp(owed)} outstanding, "
                    f"transfer is {format_rp(amount)}",
                    (mine[i].invoice_id,)))
                continue
            rules = fixed_rules or matching_rules_in_force(line.booked_on)
            owed_each = [outstanding[i] if is_open[i] else 0 for i in named]
            if (len(named) <= rules.group_invoices_max and all(owed_each) and sum(owed_each) == amount):
                for i in named:
                    close(i)
                matches.append(Match(line, MatchRule.GROUPED, tuple(mine[i].invoice_id for i in named),
                                     tuple(owed_each)))
                continue
            exceptions.append(Unreconciled(
                line, ExceptionKind.AMOUNT_MISMATCH,
                f"names {len(named)} invoices with {format_rp(sum(owed_each))} outstanding in all"
                f"{' (some already paid)' if not all(owed_each) else ''}"
                f"{f', more than {rules.group_invoices_max}' if len(named) > rules.group_invoices_max else ''}"
                f", transfer is {format_rp(amount)}",
                tuple(mine[i].invoice_id for i in named)))
            continue

        rules = fixed_rules or matching_rules_in_force(line.booked_on)
        booked = line.booked_on.toordinal()
        lo_day = booked - rules.window_before_days
        hi_day = booked + rules.window_after_days

        # (2) amount within the date window
        first = bisect_left(amt_sorted, amount)
        if first < n and amt_sorted[first] == amount:
            last = bisect_right(amt_sorted, amount, first)
            lo = bisect_left(amt_days, lo_day, first, last)
            hi = bisect_right(amt_days, hi_day, lo, last)
            p = _first_open(open_by_amt, lo)
            if p < hi:
                q = _first_open(open_by_amt, p + 1)
                if q >= hi:
                    i = amt_order[p]
                    close(i)
                    add_match(_new_tuple(Match, (line, MatchRule.AMOUNT_DATE_WINDOW, (mine[i].invoice_id,),
                                                 (amount,))))
                    continue
                found = [amt_order[p]]
                while q < hi and len(found) <= rules.candidates_max:
                    found.append(amt_order[q])
                    q = _first_open(open_by_amt, q + 1)
                more = len(found) > rules.candidates_max
                found = found[: rules.candidates_max]
                exceptions.append(Unreconciled(
                    line, ExceptionKind.AMBIGUOUS,
                    f"{'more than ' if more else ''}{len(found)} open invoices of {format_rp(amount)} issued "
                    f"{rules.window_before_days} days before to {rules.window_after_days} days after the transfer",
                    tuple(mine[i].invoice_id for i in found)))
                continue

        # (3) grouped: contiguous runs of open invoices in the window whose sum is the amount
        lo = bisect_left(day_ord, lo_day)
        hi = bisect_right(day_ord, hi_day, lo)
        window: list[int] = []
        p = _first_open(open_by_date, lo)
        while p < hi:
            if outstanding[p] < amount:
                window.append(p)
            else:
                window.append(-1)  # an invoice too large to be part of any run: breaks runs
            p = _first_open(open_by_date, p + 1)
        runs: list[tuple[int, int]] = []
        size_max = rules.group_invoices_max
        w = len(window)
        for s in range(w):
            if window[s] < 0:
                continue
            total = outstanding[window[s]]
            for e in range(s + 1, min(s + size_max, w)):
                j = window[e]
                if j < 0:
                    break
                total += outstanding[j]
                if total >= amount:
                    if total == amount:
                        runs.append((s, e + 1))
                    break
        if len(runs) == 1:
            s, e = runs[0]
            run = window[s:e]
            for i in run:
                close(i)
            matches.append(Match(line, MatchRule.GROUPED, tuple(mine[i].invoice_id for i in run),
                                 tuple(outstanding[i] for i in run)))
            continue
        if runs:
            cands: dict[int, None] = {}
            for s, e in runs:
                for i in window[s:e]:
                    cands.setdefault(i, None)
            exceptions.append(Unreconciled(
                line, ExceptionKind.AMBIGUOUS,
                f"{len(runs)} runs of consecutive open invoices sum to {format_rp(amount)}",
                tuple(mine[i].invoice_id for i in list(cands)[: rules.candidates_max])))
            continue
        exceptions.append(Unreconciled(
            line, ExceptionKind.UNMATCHED,
            f"no open invoice named, of {format_rp(amount)}, or summing to it, issued {rules.window_before_days} days "
            f"before to {rules.window_after_days} days after {line.booked_on.isoformat()}", ()))

    # invariants: every line once; each allocation is a whole outstanding taken by close(), which refuses
    # a second allocation, so no invoice is over-allocated; allocations sum to the line's amount
    assert len(matches) + len(exceptions) == len(ordered), "every line is matched or an exception, once"
    assert sum(map(len, map(_INVOICE_IDS, matches))) == is_open.count(False), "an invoice allocated twice"
    for m in matches:
        if m.rule is not by_reference:
            assert sum(m.allocations_rp) == m.line.amount_rp, f"allocations of {m.line.key} do not sum up"
    return ReconciliationResult(tuple(matches), tuple(exceptions))
