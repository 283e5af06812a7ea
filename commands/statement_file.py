"""Reading bank statements (rekening koran) of the account that receives payers' transfers.

Three formats, chosen by extension (an XLSX is also recognised by its zip signature, whatever its name):

- ``.csv`` — UTF-8 (a BOM is fine), comma- or semicolon-separated (semicolon when the header line has
  semicolons and no commas, as Excel writes in an Indonesian locale);
- ``.xlsx`` / ``.xlsm`` — the first worksheet;
- ``.sta`` / ``.mt940`` / ``.txt`` — SWIFT MT940, through the ``mt940`` library: one file may hold several
  statements (a day's or a month's), each read and identified on its own (:mod:`commands.statement_mt940`).

**Columns** (CSV/XLSX, a header row, case-insensitive; spaces, dots and hyphens count as ``_``):
``sp2d_number`` (alias ``sp2d``, ``no_sp2d``, ``nomor_sp2d``, ``reference``, ``referensi``), ``date``
(``tanggal``, ``tgl``, ``booked_on``), ``amount`` (``jumlah``, ``nominal``, ``kredit``, ``credit``,
``amount_rp``) are required; ``account`` (``rekening``, ``no_rekening``), ``description``
(``keterangan``, ``uraian``, ``deskripsi``, ``berita``) and ``value_date`` (``value_on``, ``tanggal_valuta``,
``tgl_valuta``, ``valuta``) are optional. Other columns are ignored. Every row is a credit (a transfer to BPJS);
blank rows are skipped. ``date`` is the booking date; the value date, when the bank gives one, is kept beside it
(without one, it is the booking date).

**Metadata** (CSV/XLSX): lines before the header that start with ``#``, as ``# key: value``:
``# period: 2026-01-01..2026-01-31`` (alias ``periode``), ``# account: 1234567890`` (``rekening``),
``# opening: Rp 1.000.000`` (``saldo_awal``), ``# closing: ...`` (``saldo_akhir``). In XLSX a metadata row is a
row whose first cell starts with ``#``; its non-empty cells are joined with spaces. Unknown keys are errors.

**Period.** The statement period comes from the file (``# period:`` for CSV/XLSX; the dates of the
opening :60F: and closing :62F: balances of each MT940 statement) or from the ``period_start``/``period_end``
arguments. When both give a bound, they must agree, else the file is rejected: the arguments check the file
(every statement of it), they never override it. A CSV/XLSX with neither is rejected. Every line's booking
date must fall within the period (the value date may lie outside: valued the day before, booked on the day).

**Balances.** When a statement has both an opening and a closing balance, opening + Σ movements must equal
closing, else the file is rejected (MT940 always has both; CSV/XLSX when both metadata lines are present,
and there the movements are the rows, all credits).

**Amounts** (:func:`parse_amount_rp`): whole rupiah in the Indonesian format. See there and
docs/rules.md#statement-amounts.

**Dates**: ``YYYY-MM-DD`` or Indonesian day-first ``DD/MM/YYYY`` / ``DD-MM-YYYY``; in XLSX also real date
cells (a time of day is dropped).

**MT940**: statements, their ids, booking and value dates, debits: see :mod:`commands.statement_mt940`.

**Ids.** A CSV/XLSX file is one statement, identified by the SHA-256 of the file's bytes; an MT940 statement
by the SHA-256 of its own normalised text, so the same statement in another file is the same statement.

**Errors**: any bad input raises :class:`ledger.errors.InvalidInput` naming the line and the field
(``"line 7: amount"``) or ``"file"``; nothing is returned then, never a partial file: a bad line in one
statement of a file refuses the whole file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, count, islice
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from eventstore.gc_pause import paused_gc
from ledger.errors import InvalidInput
from ledger.reconciliation import StatementLine
from ledger.text import from_bank
from ledger.values import RUPIAH_MAX, format_count, format_rp

LINE_LIMIT = 2_000_000
_AMOUNT = attrgetter("amount_rp")
_CACHE_MAX = 1 << 16
"""At most so many distinct amount and value-date texts are remembered per file (parsed once each)."""
AMOUNT_DIGITS_MAX = 16

_CSV_SUFFIXES = (".csv",)
_XLSX_SUFFIXES = (".xlsx", ".xlsm")
_MT940_SUFFIXES = (".sta", ".mt940", ".txt")
_ZIP_MAGIC = b"PK\x03\x04"

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "sp2d_number": ("sp2d_number", "sp2d", "no_sp2d", "nomor_sp2d", "sp2d_no", "reference", "referensi"),
    "date": ("date", "tanggal", "tgl", "booked_on", "tanggal_transaksi"),
    "amount": ("amount", "amount_rp", "jumlah", "nominal", "kredit", "credit"),
    "account": ("account", "rekening", "no_rekening", "nomor_rekening", "account_number"),
    "description": ("description", "keterangan", "uraian", "deskripsi", "berita", "remarks"),
    "value_date": ("value_date", "value_on", "tanggal_valuta", "tgl_valuta", "valuta"),
}
REQUIRED_COLUMNS = ("sp2d_number", "date", "amount")
_ALIAS_TO_COLUMN = {alias: col for col, aliases in COLUMN_ALIASES.items() for alias in aliases}

META_KEYS: dict[str, str] = {
    "period": "period", "periode": "period",
    "account": "account", "rekening": "account",
    "opening": "opening", "saldo_awal": "opening",
    "closing": "closing", "saldo_akhir": "closing",
}


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """A whole bank statement, validated.

    Invariants: ``period_start <= period_end``; every line's ``booked_on`` is within the period, its
    ``statement_id`` is ``sha256`` (the statement's id, see the module docstring) and line numbers are distinct;
    when both balances are known, ``opening_rp + Σ credits − debits_rp == closing_rp`` (balances may be
    negative: an overdrawn account). ``debit_lines_skipped`` counts the MT940 movements left out of ``lines``
    (debits and reversals); ``debits_rp`` is their net amount, money out positive. Both are 0 for CSV/XLSX.
    ``reference`` is the MT940 ``:20:`` (None for CSV/XLSX); ``number`` the statement's place in its file
    (1-based) and ``first_line`` the file line it starts on.
    """

    sha256: str
    format: str
    account: str | None
    period_start: date
    period_end: date
    opening_rp: int | None
    closing_rp: int | None
    lines: tuple[StatementLine, ...]
    debit_lines_skipped: int = 0
    debits_rp: int = 0
    reference: str | None = None
    number: int = 1
    first_line: int = 1

    @property
    def total_rp(self) -> int:
        return sum(line.amount_rp for line in self.lines)

    def import_fields(self, payer_id: str, file_name: str, file_sha256: str | None = None) -> dict[str, Any]:
        """The fields of an ``ImportStatement`` command recording this statement for ``payer_id``
        (``file_sha256``: the digest of the whole file it came in, when that is not the statement's id).
        The bank's text is neutralised, never refused (``ledger.text.from_bank``, docs/rules.md#text-input):
        control characters escaped, a NIK-shaped run in a reference or the details masked."""
        return {
            "payer_id": payer_id, "statement_id": self.sha256, "file_name": file_name, "file_format": self.format,
            "account": from_bank(self.account) if self.account is not None else None,
            "period_start": self.period_start, "period_end": self.period_end,
            "opening_rp": self.opening_rp, "closing_rp": self.closing_rp,
            "file_sha256": file_sha256 if file_sha256 != self.sha256 else None,
            "lines": [{"line_no": x.line_no, "reference": from_bank(x.reference, mask_nik=True),
                       "booked_on": x.booked_on, "value_on": x.value_on, "amount_rp": x.amount_rp,
                       "account": from_bank(x.account), "description": from_bank(x.description, mask_nik=True)}
                      for x in self.lines],
        }


@dataclass(frozen=True, slots=True)
class StatementFile:
    """A statement file, validated whole: every statement in it, in file order.

    Invariants: ``statements`` is non-empty; ``sha256`` is the digest of the file's bytes (for CSV/XLSX also the
    id of its one statement). Two statements of one file share an id only when the bank sent the same statement
    twice: importing the file records it once.
    """

    sha256: str
    format: str
    statements: tuple[ParsedStatement, ...]


# -- amounts -------------------------------------------------------------------------------------------

_PREFIX = re.compile(r"^(?:rp\.?|idr)\s*", re.IGNORECASE)
_GROUPED = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")
_DECIMAL = re.compile(r"(?P<int>[0-9]+|[0-9]{1,3}(?:\.[0-9]{3})+),(?P<dec>[0-9]{1,2})")


def parse_amount_rp(text: str, *, field: str) -> int:
    """Whole rupiah from text in the Indonesian format, or :class:`InvalidInput` naming ``field``.

    Accepted: ``16800``, ``16.800``, ``1.234.567`` (dot groups of three), an optional ``Rp``/``Rp.``/``IDR``
    prefix (``Rp 16.800``), and a decimal comma with zero sen (``16.800,00``, ``16800,0``).

    Rejected: zero and negative amounts; non-zero sen (``16.800,50``); a comma followed by three digits
    (``16,800`` — thousands in the English format or a decimal: ambiguous); English formats
    (``1,234,567``, ``16800.00``); spaces or other characters inside the number; more than
    ``AMOUNT_DIGITS_MAX`` digits or above ``RUPIAH_MAX``.
    """
    raw = text
    text = text.strip()
    if text.isdigit() and text.isascii():
        value = int(text)
    else:
        text = _PREFIX.sub("", text)
        if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
            raise InvalidInput(field, f"must be more than zero (a credit), got {raw.strip()!r}")
        text = text.removeprefix("+")
        if text.isdigit() and text.isascii():
            digits = text
        elif _GROUPED.fullmatch(text):
            digits = text.replace(".", "")
        elif m := _DECIMAL.fullmatch(text):
            if m["dec"].strip("0"):
                raise InvalidInput(field, f"has sen ({raw.strip()!r}); rupiah transfers are whole rupiah")
            digits = m["int"].replace(".", "")
        elif re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+", text):
            raise InvalidInput(
                field,
                f"{raw.strip()!r} is ambiguous: ',' is the decimal separator in Indonesian format; "
                "write thousands with '.' (16.800) or none (16800)",
            )
        elif re.fullmatch(r"[0-9.,]+", text) and text:
            raise InvalidInput(
                field, f"{raw.strip()!r} is not an Indonesian rupiah amount (thousands '.', decimal ',')"
            )
        else:
            raise InvalidInput(field, f"is not an amount: {raw.strip()!r}")
        if len(digits) > AMOUNT_DIGITS_MAX:
            raise InvalidInput(field, f"has more than {AMOUNT_DIGITS_MAX} digits: {raw.strip()!r}")
        value = int(digits)
    if value <= 0:
        raise InvalidInput(field, f"must be more than zero, got {raw.strip()!r}")
    if value > RUPIAH_MAX:
        raise InvalidInput(field, f"exceeds the limit of {format_rp(RUPIAH_MAX)}")
    return value


def _cell_amount_rp(value: Any, field: str) -> int:
    """An XLSX cell: int, or a float without fraction; text goes through :func:`parse_amount_rp`."""
    if isinstance(value, bool):
        raise InvalidInput(field, f"is not an amount: {value!r}")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise InvalidInput(field, f"has sen ({value!r}); rupiah transfers are whole rupiah")
        amount = int(value)
    elif isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise InvalidInput(field, f"has sen ({value}); rupiah transfers are whole rupiah")
        amount = int(value)
    else:
        return parse_amount_rp(str(value), field=field)
    if amount <= 0:
        raise InvalidInput(field, f"must be more than zero, got {value!r}")
    if amount > RUPIAH_MAX:
        raise InvalidInput(field, f"exceeds the limit of {format_rp(RUPIAH_MAX)}")
    return amount


# -- dates ---------------------------------------------------------------------------------------------

_DAY_FIRST = re.compile(r"([0-9]{1,2})[/-]([0-9]{1,2})[/-]([0-9]{4})")


def _parse_date(text: str, field: str) -> date:
    text = text.strip()
    try:
        if len(text) == 10 and text[4] == "-":
            return date.fromisoformat(text)
        m = _DAY_FIRST.fullmatch(text)
        if m:
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError as exc:
        raise InvalidInput(field, f"{text!r} is not a date ({exc})") from None
    raise InvalidInput(field, f"{text!r} is not a date; write YYYY-MM-DD or DD/MM/YYYY")


def _cell_date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(field, "is required")
    if not isinstance(value, str):
        raise InvalidInput(field, f"{value!r} is not a date")
    return _parse_date(value, field)


# -- metadata and period -------------------------------------------------------------------------------


def _parse_meta(text: str, line_no: int, meta: dict[str, str]) -> None:
    body = text.lstrip()[1:].strip()
    if not body:
        return
    key, sep, value = body.partition(":")
    norm = re.sub(r"[\s.\-]+", "_", key.strip().lower())
    if not sep or norm not in META_KEYS:
        raise InvalidInput(
            f"line {line_no}: metadata",
            f"expected '# key: value' with key period, account, opening or closing; got {text.strip()!r}",
        )
    name = META_KEYS[norm]
    if name in meta:
        raise InvalidInput(f"line {line_no}: {name}", "given twice")
    meta[name] = value.strip()
    meta[f"{name}@"] = str(line_no)


def _meta_period(meta: dict[str, str]) -> tuple[date | None, date | None]:
    if "period" not in meta:
        return None, None
    field = f"line {meta['period@']}: period"
    start_text, sep, end_text = meta["period"].partition("..")
    if not sep:
        raise InvalidInput(field, f"expected START..END (2026-01-01..2026-01-31), got {meta['period']!r}")
    return _parse_date(start_text, field), _parse_date(end_text, field)


def _meta_balance(meta: dict[str, str], name: str) -> int | None:
    if name not in meta:
        return None
    field = f"line {meta[name + '@']}: {name}"
    text = meta[name].strip()
    negative = text.startswith("-")
    value = 0 if text.strip("-0 ") == "" else parse_amount_rp(text.lstrip("-"), field=field)
    return -value if negative else value


def resolve_period(
    file_start: date | None, file_end: date | None, arg_start: date | None, arg_end: date | None, name: str
) -> tuple[date, date]:
    bounds = []
    for label, from_file, from_arg in (("start", file_start, arg_start), ("end", file_end, arg_end)):
        if from_file is not None and from_arg is not None and from_file != from_arg:
            raise InvalidInput(
                f"period_{label}",
                f"{name} says {from_file.isoformat()}, the argument says {from_arg.isoformat()}",
            )
        chosen = from_file if from_file is not None else from_arg
        if chosen is None:
            raise InvalidInput(
                f"period_{label}",
                f"{name} has no statement period: add '# period: YYYY-MM-DD..YYYY-MM-DD' or pass period_{label}",
            )
        bounds.append(chosen)
    start, end = bounds
    if start > end:
        raise InvalidInput("period", f"{name}: starts {start.isoformat()} after it ends {end.isoformat()}")
    return start, end


def check_balance(name: str, opening: int | None, closing: int | None, movements_rp: int) -> None:
    if opening is not None and closing is not None and opening + movements_rp != closing:
        raise InvalidInput(
            "closing",
            f"statement {name} does not balance: opening {format_rp(opening)} + movements {format_rp(movements_rp)} = "
            f"{format_rp(opening + movements_rp)}, but closing is {format_rp(closing)}",
        )


# -- CSV / XLSX rows -----------------------------------------------------------------------------------


def _header_map(header: list[Any], line_no: int) -> dict[str, int]:
    where: dict[str, int] = {}
    for idx, cell in enumerate(header):
        norm = re.sub(r"[\s.\-]+", "_", str(cell if cell is not None else "").strip().lower())
        col = _ALIAS_TO_COLUMN.get(norm)
        if col is None:
            continue
        if col in where:
            raise InvalidInput(f"line {line_no}: header", f"two columns mean {col}: {header[where[col]]!r}, {cell!r}")
        where[col] = idx
    missing = [c for c in REQUIRED_COLUMNS if c not in where]
    if missing:
        raise InvalidInput(
            "file",
            f"header (line {line_no}) lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(COLUMN_ALIASES)}",
        )
    return where


def too_many_lines(limit: int) -> InvalidInput:
    return InvalidInput("file", f"more than {format_count(limit)} statement lines (line_limit); split the statement")


def _csv_text(path: Path, data: bytes, meta: dict[str, str]) -> tuple[str, int, str]:
    """(the text from the header row on, the number of file lines before it, the delimiter); fills ``meta``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            "file", f"{path.name} is not UTF-8 text (line {line}, byte {exc.start}); save it as CSV UTF-8"
        ) from None
    if not text or text.isspace():  # as `not text.strip()`, without copying the text
        raise InvalidInput("file", f"{path.name} is empty")
    pos = 0
    line_no = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end + 1
        raw_line = text[pos:end]
        stripped = raw_line.strip()
        if stripped and not stripped.startswith("#"):
            break
        line_no += 1
        if stripped:
            _parse_meta(stripped, line_no, meta)
        pos = end
    rest = text[pos:] if pos else text
    if not rest or rest.isspace():
        raise InvalidInput("file", f"{path.name} has no header row (sp2d_number, date, amount, ...)")
    eol = rest.find("\n")
    first = rest if eol < 0 else rest[:eol]
    delimiter = ";" if ";" in first and "," not in first else ","
    return rest, line_no, delimiter


def _plain_lines(rest: str) -> list[str] | None:
    """The file lines of ``rest`` when ``csv.reader`` would cut each of them at the delimiter and nowhere else,
    so that ``line.split(delimiter)`` gives the same cells: no quote character anywhere, a carriage return only
    in CRLF line ends, no line longer than the csv module's field limit. None otherwise (read with csv.reader)."""
    if '"' in rest:
        return None
    if "\r" in rest:
        if rest.count("\r") != rest.count("\r\n"):
            return None
        rest = rest.replace("\r\n", "\n")
    lines = rest.split("\n")
    if lines[-1] == "":
        lines.pop()
    if max(map(len, lines)) > csv.field_size_limit():
        return None
    return lines


def _csv_rows(
    path: Path, rest: str, offset: int, delimiter: str, line_limit: int
) -> Iterator[tuple[int, list[str]]]:
    """(file line number, cells) of the header, then of each non-blank data row, through ``csv.reader``."""
    reader = csv.reader(io.StringIO(rest, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        header_line = offset + reader.line_num
        yield header_line, header
        count = 0
        start_line = header_line + 1
        for cells in reader:
            if "".join(cells).strip():
                count += 1
                if count > line_limit:
                    raise too_many_lines(line_limit)
                yield start_line, cells
            start_line = offset + reader.line_num + 1
    except csv.Error as exc:
        where = offset + reader.line_num
        raise InvalidInput("file", f"{path.name} is not a readable CSV file (line {where}: {exc})") from None


def _csv_table(path: Path, data: bytes, meta: dict[str, str], line_limit: int) -> Iterator[tuple[int, list[str]]]:
    """(file line number, cells) of the header, then of the data rows; fills ``meta`` first. A file of plain
    lines (:func:`_plain_lines`) is cut with ``str.split`` (about three times faster than ``csv.reader``, and
    its rows come without a generator step each) and may yield blank rows, which the caller skips; any other
    through :func:`_csv_rows`, which skips them itself."""
    rest, offset, delimiter = _csv_text(path, data, meta)
    lines = _plain_lines(rest)
    if lines is None or len(lines) - 1 > line_limit:  # over the limit: csv.reader counts the non-blank rows
        return _csv_rows(path, rest, offset, delimiter, line_limit)
    header = (offset + 1, lines[0].split(delimiter))
    rows = zip(count(offset + 2), map(methodcaller("split", delimiter), islice(lines, 1, None)))
    return chain((header,), rows)


def _xlsx_rows(path: Path, data: bytes, meta: dict[str, str], line_limit: int) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    unreadable = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError, IndexError, TypeError,
                  ParseError, InvalidFileException)
    try:
        # from the bytes already read (and hashed): also works when the name does not end in .xlsx
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except unreadable as exc:
        raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook ({exc})") from None
    try:
        if not wb.worksheets:
            raise InvalidInput("file", f"{path.name} has no worksheet")
        header_seen = False
        count = 0
        for line_no, values in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
            cells = list(values)
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                continue
            if not header_seen:
                if isinstance(cells[0], str) and cells[0].lstrip().startswith("#"):
                    _parse_meta(" ".join(str(v).strip() for v in cells if v is not None and str(v).strip()),
                                line_no, meta)
                    continue
                header_seen = True
                yield line_no, cells
                continue
            count += 1
            if count > line_limit:
                raise too_many_lines(line_limit)
            yield line_no, cells
        if not header_seen:
            raise InvalidInput("file", f"{path.name} is empty (no header row)")
    except unreadable as exc:
        raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook ({exc})") from None
    finally:
        wb.close()


def _read_table(
    path: Path, fmt: str, data: bytes, sha256: Callable[[], str], period_start: date | None, period_end: date | None,
    line_limit: int,
) -> ParsedStatement:
    meta: dict[str, str] = {}
    rows: Iterator[tuple[int, list[Any]]] = (
        _csv_table(path, data, meta, line_limit) if fmt == "csv" else _xlsx_rows(path, data, meta, line_limit)
    )
    header_line, header = next(rows)
    where = _header_map(header, header_line)
    start, end = resolve_period(*_meta_period(meta), period_start, period_end, path.name)
    opening = _meta_balance(meta, "opening")
    closing = _meta_balance(meta, "closing")
    meta_account = meta.get("account") or None
    i_ref, i_date, i_amount = where["sp2d_number"], where["date"], where["amount"]
    i_account, i_desc, i_value = where.get("account"), where.get("description"), where.get("value_date")
    width = len(header)
    digest = sha256()  # the statement's id, on every line (computed meanwhile on another thread for a large file)
    lines: list[StatementLine] = []
    append = lines.append
    dates: dict[Any, date] = {}
    default_account = meta_account or ""

    def booked_on(raw: Any, line_no: int) -> date:
        booked = _cell_date(raw, f"line {line_no}: date")
        if not start <= booked <= end:
            raise InvalidInput(
                f"line {line_no}: date",
                f"{booked.isoformat()} is outside the statement period {start.isoformat()}..{end.isoformat()}",
            )
        return booked

    def value_on(raw: Any, line_no: int, booked: date) -> date:
        """The value date: any date (valued before or after booking), the booking date when the cell is empty."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return booked
        return _cell_date(raw, f"line {line_no}: value_date")

    if fmt == "csv":  # the hot loop: every cell is a str
        amounts: dict[str, int] = {}
        valued_on: dict[str, date] = {}
        new_line = tuple.__new__
        for line_no, cells in rows:
            if len(cells) != width:
                if not "".join(cells).strip():
                    continue  # a blank row (plain lines come with them, csv.reader rows without)
                raise InvalidInput(f"line {line_no}", f"has {len(cells)} cells, the header has {width}")
            reference = cells[i_ref].strip()
            if not reference:
                if not "".join(cells).strip():
                    continue
                raise InvalidInput(f"line {line_no}: sp2d_number", "is required (the SP2D number of the transfer)")
            raw_date = cells[i_date]
            booked = dates.get(raw_date)
            if booked is None:
                booked = dates[raw_date] = booked_on(raw_date, line_no)
            raw_amount = cells[i_amount]
            amount = amounts.get(raw_amount)
            if amount is None:  # a text not seen before (a statement repeats its amounts: the rate × members)
                if raw_amount.isdigit() and raw_amount.isascii() and raw_amount[0] != "0" and (
                    len(raw_amount) <= AMOUNT_DIGITS_MAX
                ):
                    amount = int(raw_amount)
                else:
                    amount = parse_amount_rp(raw_amount, field=f"line {line_no}: amount")
                if len(amounts) < _CACHE_MAX:
                    amounts[raw_amount] = amount
            account = cells[i_account].strip() if i_account is not None else ""
            description = cells[i_desc].strip() if i_desc is not None else ""
            if i_value is None:
                valued = booked
            else:
                raw_value = cells[i_value]
                valued_or_none = valued_on.get(raw_value)
                if valued_or_none is None:
                    valued = value_on(raw_value, line_no, booked)
                    if raw_value.strip() and len(valued_on) < _CACHE_MAX:  # blank: this line's booking date
                        valued_on[raw_value] = valued
                else:
                    valued = valued_or_none
            # the invariants StatementLine checks hold by the checks above (line_no >= 1, reference stripped and
            # not empty, amount a positive int): made as the tuple it is, ~0.2 µs a line less
            append(new_line(StatementLine, (digest, line_no, reference, booked, amount, account or default_account,
                                            description, valued)))
    else:
        for line_no, cells in rows:
            if len(cells) < width:
                cells = [*cells, *([None] * (width - len(cells)))]
            ref_cell = cells[i_ref]
            reference = "" if ref_cell is None else str(ref_cell).strip()
            if not reference:
                raise InvalidInput(f"line {line_no}: sp2d_number", "is required (the SP2D number of the transfer)")
            booked = booked_on(cells[i_date], line_no)
            raw_amount = cells[i_amount]
            if raw_amount is None:
                raise InvalidInput(f"line {line_no}: amount", "is required")
            amount = _cell_amount_rp(raw_amount, f"line {line_no}: amount")
            account = "" if i_account is None or cells[i_account] is None else str(cells[i_account]).strip()
            description = "" if i_desc is None or cells[i_desc] is None else str(cells[i_desc]).strip()
            valued = booked if i_value is None else value_on(cells[i_value], line_no, booked)
            append(StatementLine(digest, line_no, reference, booked, amount, account or default_account, description,
                                 valued))
    if opening is not None and closing is not None:  # else there is nothing to check the sum against
        check_balance(path.name, opening, closing, sum(map(_AMOUNT, lines)))
    return ParsedStatement(digest, fmt, meta_account, start, end, opening, closing, tuple(lines))


class _Sha256:
    """The SHA-256 of a file's bytes; of a large file on another thread (hashlib releases the GIL), while this
    one decodes and splits it (a million CSV lines: ~0.15 s of hashing beside ~0.2 s of decoding and splitting)."""

    def __init__(self, data: bytes) -> None:
        self._hex: str | None = None
        self._thread: threading.Thread | None = None
        if len(data) < _HASH_ON_A_THREAD_FROM:
            self._hex = hashlib.sha256(data).hexdigest()
        else:
            self._thread = threading.Thread(target=self._hash, args=(data,), name="statement-sha256", daemon=True)
            self._thread.start()

    def _hash(self, data: bytes) -> None:
        self._hex = hashlib.sha256(data).hexdigest()

    def hexdigest(self) -> str:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        assert self._hex is not None
        return self._hex


_HASH_ON_A_THREAD_FROM = 4 << 20
"""Bytes from which the file is hashed on another thread (below, a thread costs more than it saves)."""


# -- entry point ---------------------------------------------------------------------------------------


def read_statements(
    path: Path, *, period_start: date | None = None, period_end: date | None = None, line_limit: int = LINE_LIMIT
) -> StatementFile:
    """Read and validate a whole statement file — every statement in it — or raise :class:`InvalidInput`;
    see the module docstring for formats and rules. ``line_limit`` counts the lines of the whole file.

    The cyclic garbage collector is paused meanwhile (:mod:`eventstore.gc_pause`): the lines are millions of small
    acyclic objects (tuples, tracked), and its passes over them cost more than reading them."""
    with paused_gc():
        return _read_statements(path, period_start, period_end, line_limit)


def _read_statements(path: Path, period_start: date | None, period_end: date | None, line_limit: int
                     ) -> StatementFile:
    if not path.exists():
        raise InvalidInput("file", f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput("file", f"{path} is not a file")
    data = path.read_bytes()
    if not data or data.isspace():  # as `not data.strip()`, without copying the bytes
        raise InvalidInput("file", f"{path.name} is empty")
    digest = _Sha256(data)
    suffix = path.suffix.lower()
    if data.startswith(_ZIP_MAGIC) or suffix in _XLSX_SUFFIXES:
        if not data.startswith(_ZIP_MAGIC):
            raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook (no zip signature)")
        table = _read_table(path, "xlsx", data, digest.hexdigest, period_start, period_end, line_limit)
        return StatementFile(digest.hexdigest(), "xlsx", (table,))
    if suffix in _CSV_SUFFIXES:
        table = _read_table(path, "csv", data, digest.hexdigest, period_start, period_end, line_limit)
        return StatementFile(digest.hexdigest(), "csv", (table,))
    if suffix in _MT940_SUFFIXES:
        from commands.statement_mt940 import read_mt940

        statements = read_mt940(path, data, period_start, period_end, line_limit)
        return StatementFile(digest.hexdigest(), "mt940", tuple(statements))
    raise InvalidInput(
        "file", f"{path.name}: statements are read from .csv, .xlsx or MT940 (.sta, .mt940, .txt) files"
    )


def read_statement(
    path: Path, *, period_start: date | None = None, period_end: date | None = None, line_limit: int = LINE_LIMIT
) -> ParsedStatement:
    """The one statement of a file (:func:`read_statements`); a file holding several is refused."""
    read = read_statements(path, period_start=period_start, period_end=period_end, line_limit=line_limit)
    if len(read.statements) != 1:
        raise InvalidInput("file", f"{path.name} holds {len(read.statements)} statements; read it with "
                                   "read_statements (jamsos reconcile import imports each)")
    return read.statements[0]
