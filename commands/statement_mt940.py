"""SWIFT MT940 statements, as banks deliver them: one file holds one statement or many.

**Statements in a file.** Each statement runs from its ``:20:`` line to the end-of-message line (a line
starting with ``-``, as ``-`` or ``-}``) or to the next ``:20:``. What lies between statements — the SWIFT
envelope ``{1:…}{2:…}{4:``, a bank's own header lines (``ABNANL2A`` / ``940``) — is skipped, but a tag there
(``:61:`` after the end marker) is an error: a movement outside any statement would otherwise vanish.

**A statement's id** is the SHA-256 of its own text, normalised: its lines from ``:20:`` to its end, each
without carriage return and trailing blanks, blank lines left out, joined with ``\\n``. The same statement
delivered again — in the day's file, then in the month's, with CRLF or LF, inside a SWIFT envelope or not — has
the same id and is recognised as already imported. Neither the file's digest (it changes with its neighbours)
nor the ``:20:`` reference (banks reuse it: one sample repeats ``0000000000`` for every day) would be.

**Per statement** (the rules of :mod:`commands.statement_file` apply to each): an opening (``:60F:``, or
``:60M:`` on a continuation page) and a closing balance (``:62F:`` / ``:62M:``) in rupiah (``IDR``), whose dates
bound the statement period; opening + every movement = closing.

**Lines.** ``:61:`` carries the value date (YYMMDD) and, optionally, the booking (entry) date (MMDD, its year
guessed by the ``mt940`` library across a year end). The booking date is the line's ``booked_on`` and must fall
in the period; the value date is kept as ``value_on`` (the booking date when the entry date is absent). Banks
book on the statement's day what is valued the day before: ``:61:1206070608…`` in a statement of 2012-06-08.

Only credits (``C``) are payers' transfers and become lines. A debit (``D``) or a reversal (``RC``, ``RD``) —
bank charges, sweeps to the head office — is left out: it counts in the balance check and in
``debit_lines_skipped`` / ``debits_rp``, but its dates and reference are not checked (it is not imported; a
charge valued last month or a ``NONREF`` sweep does not refuse the file). Every amount, credit or debit, must be
whole rupiah: a balance that does not add up in whole rupiah cannot be checked.

A credit's ``reference`` is the SP2D number written in the ``:86:`` details (``SP2D`` followed by the number),
else the ``:61:`` customer reference (``NONREF`` counts as none); its ``line_no`` is the file line of its
``:61:`` tag. An ``:86:`` after the closing balance is information for the account owner about the whole
statement, not about its last line, and is not read into that line's details.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import mt940

from commands.statement_file import ParsedStatement, check_balance, resolve_period, too_many_lines
from ledger.errors import InvalidInput
from ledger.reconciliation import StatementLine

_TAG = re.compile(r":(?P<tag>[0-9]{2}[A-Z]?|NS):")
_END_OF_MESSAGE = ("-", "{")
_OPENING_TAGS = (":60F:", ":60M:")
_CLOSING_TAGS = (":62F:", ":62M:")
_OPTIONS = mt940.Options(reversal_sign=True, merge_keeps_values=True, strip_bom=True, case_insensitive_marks=True)
"""reversal_sign: RC (a reversed credit) is money out, as the balance check needs; merge_keeps_values: a
structured :86: without KREF keeps the :61: customer reference; strip_bom, case-insensitive marks: as banks write."""
_SP2D_IN_DETAILS = re.compile(
    r"\bSP2D\b\s*(?:NO\.?|NOMOR|NUMBER)?\s*[:#]?\s*(?P<no>[0-9A-Z][0-9A-Z./\-_]*[0-9A-Z])", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Block:
    """One statement's lines in the file: ``lines[start:end]`` (0-based indexes; file line = index + 1)."""

    number: int
    start: int
    end: int


def _tag_of(line: str) -> str | None:
    m = _TAG.match(line)
    return f":{m['tag']}:" if m else None


def _blocks(lines: list[str], name: str) -> list[_Block]:
    starts = [i for i, ln in enumerate(lines) if ln.startswith(":20:")]
    if not starts:
        raise InvalidInput("file", f"{name} holds no MT940 statement (no :20: tag)")
    blocks: list[_Block] = []
    for number, start in enumerate(starts, start=1):
        stop = starts[number] if number < len(starts) else len(lines)
        end = start + 1
        while end < stop and not lines[end].startswith(_END_OF_MESSAGE):
            end += 1
        blocks.append(_Block(number, start, end))
        _outside(lines, end, stop, f"after the end of statement {number} (line {end + 1})")
    _outside(lines, 0, starts[0], "before the first statement's :20:")
    return blocks


def _outside(lines: list[str], first: int, stop: int, where: str) -> None:
    for i in range(first, stop):
        tag = _tag_of(lines[i])
        if tag is not None:
            raise InvalidInput(f"line {i + 1}: {tag}", f"is outside any statement ({where})")


def _statement_id(lines: list[str]) -> str:
    """SHA-256 of the statement's normalised text (see the module docstring)."""
    text = "\n".join(ln for ln in (raw.rstrip() for raw in lines) if ln) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _for_the_parser(lines: list[str], closing_at: int) -> str:
    """The statement's text without an ``:86:`` that follows the closing balance (the library would add it to
    the details of the last line)."""
    kept: list[str] = []
    dropping = False
    for i, line in enumerate(lines):
        tag = _tag_of(line)
        if tag is not None:
            dropping = i > closing_at and tag == ":86:"
        if not dropping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _whole_rp(value: Any, field: str, prefix: str) -> int:
    amount = Decimal(value)
    if amount != amount.to_integral_value():
        raise InvalidInput(field, f"{prefix}has sen ({amount}); rupiah amounts are whole rupiah")
    return int(amount)


def _day(value: Any) -> date:
    return date(value.year, value.month, value.day)


def read_mt940(
    path: Path, data: bytes, period_start: date | None, period_end: date | None, line_limit: int
) -> list[ParsedStatement]:
    """Every statement of an MT940 file, validated; :class:`InvalidInput` naming line and field otherwise."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("file", f"{path.name} is not UTF-8/ASCII text (byte {exc.start})") from None
    if not text.strip():
        raise InvalidInput("file", f"{path.name} is empty")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    if sum(1 for ln in lines if ln.startswith(":61:")) > line_limit:
        raise too_many_lines(line_limit)
    blocks = _blocks(lines, path.name)
    return [_statement(path.name, lines, block, len(blocks), period_start, period_end) for block in blocks]


def _statement(
    file_name: str, lines: list[str], block: _Block, count: int, period_start: date | None, period_end: date | None
) -> ParsedStatement:
    own = lines[block.start : block.end]
    where = f"statement {block.number}" if count > 1 else "statement"
    first_line = block.start + 1

    def tag_lines(tags: tuple[str, ...]) -> list[int]:
        return [i for i, ln in enumerate(own) if ln.startswith(tags)]

    found = {}
    for label, tags in (("opening", _OPENING_TAGS), ("closing", _CLOSING_TAGS)):
        places = tag_lines(tags)
        if len(places) != 1:
            raise InvalidInput("file", f"{file_name}: {where} (line {first_line}) needs one {'/'.join(tags)} "
                                       f"{label} balance, found {len(places)}")
        found[label] = places[0]
    tx_at = tag_lines((":61:",))
    try:
        parsed = mt940.models.Transactions(options=_OPTIONS)
        transactions = parsed.parse(_for_the_parser(own, found["closing"]))
    except Exception as exc:  # the library raises many kinds on malformed input
        raise InvalidInput("file", f"{file_name}: {where} (line {first_line}) is not a readable MT940 "
                                   f"statement ({exc})") from None
    reference = str(parsed.data.get("transaction_reference") or "").strip()
    ref = reference or "no :20: reference"
    name = f"{file_name} statement {block.number} ({ref})" if count > 1 else f"{file_name} ({ref})"
    balance_name = f"{block.number} of {file_name} ({ref})" if count > 1 else name
    prefix = f"{where} ({reference}): " if count > 1 else ""
    balances = {}
    for label, slugs in (("opening", ("final_opening_balance", "intermediate_opening_balance")),
                         ("closing", ("final_closing_balance", "intermediate_closing_balance"))):
        line_no = block.start + found[label] + 1
        bal = next((parsed.data[s] for s in slugs if parsed.data.get(s) is not None), None)
        if bal is None or not hasattr(bal.amount, "currency") or bal.date is None:
            raise InvalidInput(f"line {line_no}: {label}", f"{name}: unreadable {own[found[label]][:5]} balance")
        if str(bal.amount.currency).upper() != "IDR":
            raise InvalidInput(f"line {line_no}: currency", f"{name}: {bal.amount.currency}, expected IDR")
        balances[label] = (_whole_rp(bal.amount.amount, f"line {line_no}: {label}", f"{name}: "), _day(bal.date))
    (opening, file_start), (closing, file_end) = balances["opening"], balances["closing"]
    if len(transactions) != len(tx_at):
        raise InvalidInput("file", f"{name}: {len(tx_at)} :61: lines but {len(transactions)} readable")
    start, end = resolve_period(file_start, file_end, period_start, period_end, name)
    account = str(parsed.data.get("account_identification") or "").strip() or None
    statement_id = _statement_id(own)
    out: list[StatementLine] = []
    movements = debit_count = debits = 0
    for at, tx in zip(tx_at, transactions, strict=True):
        d = tx.data
        line_no = block.start + at + 1
        field = f"line {line_no}"
        if str(d.get("currency") or "IDR").upper() != "IDR":
            raise InvalidInput(f"{field}: currency", f"{prefix}{d.get('currency')}, expected IDR")
        signed = _whole_rp(d["amount"].amount, f"{field}: amount", prefix)
        movements += signed
        if str(d.get("status") or "").upper() != "C":  # a debit or a reversal: counted, not imported
            debit_count += 1
            debits -= signed
            continue
        if signed <= 0:
            raise InvalidInput(f"{field}: amount", f"{prefix}must be more than zero, got {signed}")
        value_on = _day(d["date"])
        entry = d.get("entry_date")
        booked_on = _day(entry) if entry is not None else value_on
        if not start <= booked_on <= end:
            raise InvalidInput(
                f"{field}: date",
                f"{prefix}booked {booked_on.isoformat()}, outside the statement period "
                f"{start.isoformat()}..{end.isoformat()}",
            )
        details = " ".join(str(d.get("transaction_details") or "").split())
        sp2d = _SP2D_IN_DETAILS.search(details)
        customer_ref = str(d.get("customer_reference") or "").strip()
        line_ref = sp2d["no"] if sp2d else ("" if customer_ref.upper() == "NONREF" else customer_ref)
        if not line_ref:
            raise InvalidInput(f"{field}: sp2d_number",
                               f"{prefix}is required: no SP2D in :86: and no customer reference")
        out.append(StatementLine(statement_id, line_no, line_ref, booked_on, signed, account or "", details,
                                 value_on))
    check_balance(balance_name, opening, closing, movements)
    return ParsedStatement(statement_id, "mt940", account, start, end, opening, closing, tuple(out), debit_count,
                           debits, reference or None, block.number, first_line)
