"""Reading cohort files (CSV or XLSX) into validated rows, every bad row kept with its line number.

A column the reader does not know, or a value beyond the header's columns, is not read: it is reported as a
warning (:attr:`CohortFile.warnings`), and ``jamsos member import --strict`` refuses the file for it
(docs/rules.md#text-input)."""

from __future__ import annotations

import csv
import hashlib
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from pydantic import ValidationError

from commands.messages import CohortRow, field_error
from ledger.errors import InvalidInput, LedgerError
from ledger.text import printable
from ledger.values import format_count

COLUMNS = ("nik", "name", "birth_date", "address", "village_code", "role", "declared_income_rp")
REQUIRED = ("nik", "name", "role")
ROWS_MAX = 2_000_000
_LAYOUT = re.compile(r"[ \t\r\n]+")


EXTRA = "\x00extra"
"""The key under which a row's values beyond the header are kept (never a column name)."""


def _records(path: Path, warnings: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, restkey=EXTRA)
            try:
                _check_header(list(reader.fieldnames or []), warnings)
                for rec in reader:
                    # the reader's own line number: a quoted field may span lines
                    yield reader.line_num, rec
            except UnicodeDecodeError as exc:
                raise InvalidInput(
                    "file", f"{path.name} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
                ) from None
            except csv.Error as exc:
                raise InvalidInput("file", f"{path.name} is not a readable CSV file ({exc})") from None
    elif suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        unreadable = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError, IndexError,
                      ParseError, InvalidFileException)
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except unreadable as exc:
            raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook ({exc})") from None
        try:
            sheet = wb.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            _check_header(header, warnings)
            for line, values in enumerate(rows, start=2):
                if all(v is None or str(v).strip() == "" for v in values):
                    continue
                record = dict(zip(header, values, strict=False))
                extra = [v for h, v in zip(header, values, strict=False) if h == ""]
                record[EXTRA] = [*extra, *values[len(header):]]
                yield line, record
        except unreadable as exc:
            raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook ({exc})") from None
        finally:
            wb.close()
    else:
        raise InvalidInput("file", f"{path.name}: only .csv and .xlsx cohort files are read")


def _check_header(header: list[str], warnings: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput("file", f"header lacks column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    unknown = [printable(c) for c in header if c and c not in COLUMNS]
    if unknown:
        warnings.append(f"column(s) {', '.join(unknown)} not read: the known columns are {', '.join(COLUMNS)}")
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if repeated:
        warnings.append(f"column(s) {', '.join(map(printable, repeated))} given twice: only the last is read")


def _extra_values(line: int, rec: dict[str, Any]) -> str | None:
    extra = [v for v in rec.get(EXTRA) or () if v is not None and str(v).strip()]
    return f"line {line}: {len(extra)} value(s) beyond the header's columns not read" if extra else None


def _clean(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in COLUMNS:
        value = rec.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key == "declared_income_rp":
            text = str(value).strip()
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, int):
                pass
            elif text.isascii() and text.isdigit() and len(text) <= 16:
                value = int(text)
            else:
                raise InvalidInput(key, f"must be whole rupiah digits without separators, got {text!r}")
        elif key == "birth_date" and hasattr(value, "date"):
            value = value.date()
        elif key == "nik" and isinstance(value, float):
            # Excel keeps 15 significant digits: a 16-digit NIK typed as a number has lost its last digit
            raise InvalidInput(key, "is stored as a number in the workbook, which loses digits; "
                                    "format the nik column as text")
        elif key == "nik" and isinstance(value, int):
            value = str(value)
        elif isinstance(value, str):
            # [choice] a cell's line breaks and tabs (Alt+Enter in a spreadsheet, a quoted CSV field over two
            # lines) are layout: folded into one space; every other control character is refused by the row
            value = _LAYOUT.sub(" ", value).strip()
        else:
            value = str(value).strip() if not hasattr(value, "isoformat") else value
        out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class CohortFile:
    """A read cohort file: valid rows, invalid rows as (line, field, reason), its SHA-256, and what was not read."""

    rows: list[tuple[int, CohortRow]]
    invalid: list[tuple[int, str, str]]
    digest: str
    warnings: list[str] = field(default_factory=list)


WARNINGS_MAX = 20
"""Lines with values beyond the header named one by one; the rest are counted."""


def read_cohort_file(path: Path) -> tuple[list[tuple[int, CohortRow]], list[tuple[int, str, str]], str]:
    """(valid rows, invalid rows as (line, field, reason), SHA-256 of the file)."""
    read = read_cohort(path)
    return read.rows, read.invalid, read.digest


def read_cohort(path: Path) -> CohortFile:
    """Read and validate a cohort file; see :class:`CohortFile`."""
    if not path.exists():
        raise InvalidInput("file", f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput("file", f"{path} is not a file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rows: list[tuple[int, CohortRow]] = []
    invalid: list[tuple[int, str, str]] = []
    warnings: list[str] = []
    extra_lines = 0
    for line, rec in _records(path, warnings):
        extra = _extra_values(line, rec)
        if extra is not None:
            extra_lines += 1
            if extra_lines <= WARNINGS_MAX:
                warnings.append(extra)
        if len(rows) + len(invalid) >= ROWS_MAX:
            raise InvalidInput("file", f"more than {format_count(ROWS_MAX)} rows; split the file")
        try:
            rows.append((line, CohortRow.model_validate(_clean(rec))))
        except ValidationError as exc:
            err = field_error(exc)
            invalid.append((line, err.field, err.reason))
        except LedgerError as err:
            invalid.append((line, err.field, err.reason))
    if not rows and not invalid:
        raise InvalidInput("file", f"{path.name} has no data rows")
    if extra_lines > WARNINGS_MAX:
        warnings.append(f"{format_count(extra_lines - WARNINGS_MAX)} more line(s) with values beyond the header")
    return CohortFile(rows, invalid, digest, warnings)
