"""Reading bank statements (rekening koran) of the account that receives payers' transfers.

Three formats, chosen by extension (an XLSX is also recognised by its zip signature, whatever its name):

- ``.csv`` — UTF-8 (a BOM is fine), comma- or semicolon-separated (semicolon when the header line has
  semicolons and no commas, as Excel writes in an Indonesian locale);
- ``.xlsx`` / ``.xlsm`` — the first worksheet;
- ``.sta`` / ``.mt940`` / ``.txt`` — SWIFT MT940, through the ``mt940`` library.

**Columns** (CSV/XLSX, a header row, case-insensitive; spaces, dots and hyphens count as ``_``):
``sp2d_number`` (alias ``sp2d``, ``no_sp2d``, ``nomor_sp2d``, ``reference``, ``referensi``), ``date``
(``tanggal``, ``tgl``, ``booked_on``), ``amount`` (``jumlah``, ``nominal``, ``kredit``, ``credit``,
``amount_rp``) are required; ``account`` (``rekening``, ``no_rekening``) and ``description``
(``keterangan``, ``uraian``, ``deskripsi``, ``berita``) are optional. Other columns are ignored. Every
row is a credit (a transfer to BPJS); blank rows are skipped.

**Metadata** (CSV/XLSX): lines before the header that start with ``#``, as ``# key: value``:
``# period: 2026-01-01..2026-01-31`` (alias ``periode``), ``# account: 1234567890`` (``rekening``),
``# opening: Rp 1.000.000`` (``saldo_awal``), ``# closing: ...`` (``saldo_akhir``). In XLSX a metadata row is a
row whose first cell starts with ``#``; its non-empty cells are joined with spaces. Unknown keys are errors.

**Period.** The statement period comes from the file (``# period:`` for CSV/XLSX; the dates of the
opening :60F: and closing :62F: balances for MT940) or from the ``period_start``/``period_end`` arguments.
When both give a bound, they must agree, else the file is rejected: the arguments check the file, they never
override it. A CSV/XLSX with neither is rejected. Every line's date must fall within the period.

**Balances.** When a statement has both an opening and a closing balance, opening + Σ movements must equal
closing, else the file is rejected (MT940 always has both; CSV/XLSX when both metadata lines are present,
and there the movements are the rows, all credits).

**Amounts** (:func:`parse_amount_rp`): whole rupiah in the Indonesian format. See there.

**Dates**: ``YYYY-MM-DD`` or Indonesian day-first ``DD/MM/YYYY`` / ``DD-MM-YYYY``; in XLSX also real date
cells (a time of day is dropped).

**MT940 debits**: a debit (``D``) or a reversal (``RC``, ``RD``) is not a payer's transfer to BPJS
(bank charges, sweeps to the head office). Such movements are left out of ``lines`` but counted in the
balance check and in ``debit_lines_skipped`` / ``debits_rp``. A line's ``reference`` is the SP2D number
written in the :86: details (``SP2D`` followed by the number), else the :61: customer reference
(``NONREF`` counts as none); its ``line_no`` is the file line of its :61: tag.

**Errors**: any bad input raises :class:`ledger.errors.InvalidInput` naming the line and the field
(``"line 7: amount"``) or ``"file"``; nothing is returned then, never a partial statement.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from ledger.errors import InvalidInput
from ledger.reconciliation import StatementLine
from ledger.values import RUPIAH_MAX, format_count, format_rp

LINE_LIMIT = 2_000_000
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
    ``statement_id`` is ``sha256`` and line numbers are distinct; when both balances are known,
    ``opening_rp + Σ credits − debits_rp == closing_rp`` (balances may be negative: an overdrawn account).
    ``debit_lines_skipped`` counts the MT940 movements left out of ``lines`` (debits and reversals);
    ``debits_rp`` is their net amount, money out positive. Both are 0 for CSV/XLSX.
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

    def import_fields(self, payer_id: str, file_name: str) -> dict[str, Any]:
        """The fields of an ``ImportStatement`` command recording this statement for ``payer_id``."""
        return {
            "payer_id": payer_id, "statement_id": self.sha256, "file_name": file_name, "file_format": self.format,
            "account": self.account, "period_start": self.period_start, "period_end": self.period_end,
            "opening_rp": self.opening_rp, "closing_rp": self.closing_rp,
            "lines": [{"line_no": x.line_no, "reference": x.reference, "booked_on": x.booked_on,
                       "amount_rp": x.amount_rp, "account": x.account, "description": x.description}
                      for x in self.lines],
        }


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


def _resolve_period(
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


def _check_balance(name: str, opening: int | None, closing: int | None, movements_rp: int) -> None:
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


def _too_many(limit: int) -> InvalidInput:
    return InvalidInput("file", f"more than {format_count(limit)} statement lines (line_limit); split the statement")


def _csv_rows(path: Path, data: bytes, meta: dict[str, str], line_limit: int) -> Iterator[tuple[int, list[str]]]:
    """(file line number, cells) of each non-blank data row; fills ``meta`` first."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            "file", f"{path.name} is not UTF-8 text (line {line}, byte {exc.start}); save it as CSV UTF-8"
        ) from None
    if not text.strip():
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
    rest = text[pos:]
    if not rest.strip():
        raise InvalidInput("file", f"{path.name} has no header row (sp2d_number, date, amount, ...)")
    first = rest.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(rest, newline=""), delimiter=delimiter, strict=True)
    offset = line_no
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
                    raise _too_many(line_limit)
                yield start_line, cells
            start_line = offset + reader.line_num + 1
    except csv.Error as exc:
        where = offset + reader.line_num
        raise InvalidInput("file", f"{path.name} is not a readable CSV file (line {where}: {exc})") from None


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
                raise _too_many(line_limit)
            yield line_no, cells
        if not header_seen:
            raise InvalidInput("file", f"{path.name} is empty (no header row)")
    except unreadable as exc:
        raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook ({exc})") from None
    finally:
        wb.close()


def _read_table(
    path: Path, fmt: str, data: bytes, digest: str, period_start: date | None, period_end: date | None,
    line_limit: int,
) -> ParsedStatement:
    meta: dict[str, str] = {}
    rows: Iterator[tuple[int, list[Any]]] = (
        _csv_rows(path, data, meta, line_limit) if fmt == "csv" else _xlsx_rows(path, data, meta, line_limit)
    )
    header_line, header = next(rows)
    where = _header_map(header, header_line)
    start, end = _resolve_period(*_meta_period(meta), period_start, period_end, path.name)
    opening = _meta_balance(meta, "opening")
    closing = _meta_balance(meta, "closing")
    meta_account = meta.get("account") or None
    i_ref, i_date, i_amount = where["sp2d_number"], where["date"], where["amount"]
    i_account, i_desc = where.get("account"), where.get("description")
    width = len(header)
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

    if fmt == "csv":  # the hot loop: every cell is a str
        for line_no, cells in rows:
            if len(cells) != width:
                raise InvalidInput(f"line {line_no}", f"has {len(cells)} cells, the header has {width}")
            reference = cells[i_ref].strip()
            if not reference:
                raise InvalidInput(f"line {line_no}: sp2d_number", "is required (the SP2D number of the transfer)")
            raw_date = cells[i_date]
            booked = dates.get(raw_date)
            if booked is None:
                booked = dates[raw_date] = booked_on(raw_date, line_no)
            raw_amount = cells[i_amount]
            if raw_amount.isdigit() and raw_amount.isascii() and raw_amount[0] != "0" and (
                len(raw_amount) <= AMOUNT_DIGITS_MAX
            ):
                amount = int(raw_amount)
            else:
                amount = parse_amount_rp(raw_amount, field=f"line {line_no}: amount")
            account = cells[i_account].strip() if i_account is not None else ""
            description = cells[i_desc].strip() if i_desc is not None else ""
            append(StatementLine(digest, line_no, reference, booked, amount, account or default_account, description))
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
            append(StatementLine(digest, line_no, reference, booked, amount, account or default_account, description))
    _check_balance(path.name, opening, closing, sum(ln.amount_rp for ln in lines))
    return ParsedStatement(digest, fmt, meta_account, start, end, opening, closing, tuple(lines))


# -- MT940 ---------------------------------------------------------------------------------------------

_SP2D_IN_DETAILS = re.compile(
    r"\bSP2D\b\s*(?:NO\.?|NOMOR|NUMBER)?\s*[:#]?\s*(?P<no>[0-9A-Z][0-9A-Z./\-_]*[0-9A-Z])", re.IGNORECASE
)


def _mt940_amount(value: Any, field: str) -> int:
    amount = Decimal(value)
    if amount != amount.to_integral_value():
        raise InvalidInput(field, f"has sen ({amount}); rupiah transfers are whole rupiah")
    return int(amount)


def _read_mt940(
    path: Path, data: bytes, digest: str, period_start: date | None, period_end: date | None, line_limit: int
) -> ParsedStatement:
    import mt940

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("file", f"{path.name} is not UTF-8/ASCII text (byte {exc.start})") from None
    if not text.strip():
        raise InvalidInput("file", f"{path.name} is empty")
    tag_lines = text.splitlines()
    tx_line_nos = [n for n, ln in enumerate(tag_lines, start=1) if ln.startswith(":61:")]
    if len(tx_line_nos) > line_limit:
        raise _too_many(line_limit)
    for tag in (":20:", ":60F:", ":62F:"):
        count = sum(1 for ln in tag_lines if ln.startswith(tag))
        if count != 1:
            raise InvalidInput("file", f"{path.name}: expected one {tag} tag (one statement per file), found {count}")
    try:
        parsed = mt940.parse(text)
        transactions = list(parsed)
    except Exception as exc:  # the library raises many kinds on malformed input
        raise InvalidInput("file", f"{path.name} is not a readable MT940 statement ({exc})") from None
    name = f"{path.name} ({parsed.data.get('transaction_reference', '?')})"
    opening_bal = parsed.data.get("final_opening_balance")
    closing_bal = parsed.data.get("final_closing_balance")
    field_line = {tag: next(n for n, ln in enumerate(tag_lines, start=1) if ln.startswith(tag))
                  for tag in (":60F:", ":62F:")}
    if opening_bal is None:
        raise InvalidInput(f"line {field_line[':60F:']}: opening", f"{name}: unreadable :60F: opening balance")
    if closing_bal is None:
        raise InvalidInput(f"line {field_line[':62F:']}: closing", f"{name}: unreadable :62F: closing balance")
    for tag, bal in ((":60F:", opening_bal), (":62F:", closing_bal)):
        if str(bal.amount.currency).upper() != "IDR":
            raise InvalidInput(f"line {field_line[tag]}: currency", f"{name}: {bal.amount.currency}, expected IDR")
    opening = _mt940_amount(opening_bal.amount.amount, f"line {field_line[':60F:']}: opening")
    closing = _mt940_amount(closing_bal.amount.amount, f"line {field_line[':62F:']}: closing")
    if len(transactions) != len(tx_line_nos):
        raise InvalidInput("file", f"{name}: {len(tx_line_nos)} :61: lines but {len(transactions)} readable")
    file_start = date(opening_bal.date.year, opening_bal.date.month, opening_bal.date.day)
    file_end = date(closing_bal.date.year, closing_bal.date.month, closing_bal.date.day)
    start, end = _resolve_period(file_start, file_end, period_start, period_end, name)
    account = str(parsed.data.get("account_identification") or "").strip() or None
    lines: list[StatementLine] = []
    movements = 0
    debit_count = 0
    debits = 0
    for line_no, tx in zip(tx_line_nos, transactions, strict=True):
        d = tx.data
        field = f"line {line_no}"
        if str(d.get("currency", "IDR")).upper() != "IDR":
            raise InvalidInput(f"{field}: currency", f"{d.get('currency')}, expected IDR")
        signed = _mt940_amount(d["amount"].amount, f"{field}: amount")
        movements += signed
        booked_raw = d["date"]
        booked = date(booked_raw.year, booked_raw.month, booked_raw.day)
        if not start <= booked <= end:
            raise InvalidInput(
                f"{field}: date",
                f"{booked.isoformat()} is outside the statement period {start.isoformat()}..{end.isoformat()}",
            )
        if d.get("status") != "C":
            debit_count += 1
            debits += -signed
            continue
        if signed <= 0:
            raise InvalidInput(f"{field}: amount", f"must be more than zero, got {signed}")
        details = " ".join(str(d.get("transaction_details") or "").split())
        sp2d = _SP2D_IN_DETAILS.search(details)
        customer_ref = str(d.get("customer_reference") or "").strip()
        reference = sp2d["no"] if sp2d else ("" if customer_ref.upper() == "NONREF" else customer_ref)
        if not reference:
            raise InvalidInput(f"{field}: sp2d_number", "is required: no SP2D in :86: and no customer reference")
        lines.append(StatementLine(digest, line_no, reference, booked, signed, account or "", details))
    _check_balance(name, opening, closing, movements)
    return ParsedStatement(digest, "mt940", account, start, end, opening, closing, tuple(lines), debit_count, debits)


# -- entry point ---------------------------------------------------------------------------------------


def read_statement(
    path: Path, *, period_start: date | None = None, period_end: date | None = None, line_limit: int = LINE_LIMIT
) -> ParsedStatement:
    """Read and validate a whole statement file; see the module docstring for formats and rules.

    ``sha256`` is the hex digest of the file's bytes and every line's ``statement_id``.
    """
    if not path.exists():
        raise InvalidInput("file", f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput("file", f"{path} is not a file")
    data = path.read_bytes()
    if not data.strip():
        raise InvalidInput("file", f"{path.name} is empty")
    digest = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if data.startswith(_ZIP_MAGIC) or suffix in _XLSX_SUFFIXES:
        if not data.startswith(_ZIP_MAGIC):
            raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook (no zip signature)")
        return _read_table(path, "xlsx", data, digest, period_start, period_end, line_limit)
    if suffix in _CSV_SUFFIXES:
        return _read_table(path, "csv", data, digest, period_start, period_end, line_limit)
    if suffix in _MT940_SUFFIXES:
        return _read_mt940(path, data, digest, period_start, period_end, line_limit)
    raise InvalidInput(
        "file", f"{path.name}: statements are read from .csv, .xlsx or MT940 (.sta, .mt940, .txt) files"
    )
