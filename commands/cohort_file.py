"""Reading cohort files (CSV or XLSX) into validated rows, every bad row kept with its line number."""

from __future__ import annotations

import csv
import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from pydantic import ValidationError

from commands.messages import CohortRow, field_error
from ledger.errors import InvalidInput, LedgerError
from ledger.values import format_count

COLUMNS = ("nik", "name", "birth_date", "address", "village_code", "role", "declared_income_rp")
REQUIRED = ("nik", "name", "role")
ROWS_MAX = 2_000_000


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            try:
                _check_header(list(reader.fieldnames or []))
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
            _check_header(header)
            for line, values in enumerate(rows, start=2):
                if all(v is None or str(v).strip() == "" for v in values):
                    continue
                yield line, dict(zip(header, values, strict=False))
        except unreadable as exc:
            raise InvalidInput("file", f"{path.name} is not a readable XLSX workbook ({exc})") from None
        finally:
            wb.close()
    else:
        raise InvalidInput("file", f"{path.name}: only .csv and .xlsx cohort files are read")


def _check_header(header: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput("file", f"header lacks column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")


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
        else:
            value = str(value).strip() if not hasattr(value, "isoformat") else value
        out[key] = value
    return out


def read_cohort_file(path: Path) -> tuple[list[tuple[int, CohortRow]], list[tuple[int, str, str]], str]:
    """(valid rows, invalid rows as (line, field, reason), SHA-256 of the file)."""
    if not path.exists():
        raise InvalidInput("file", f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput("file", f"{path} is not a file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rows: list[tuple[int, CohortRow]] = []
    invalid: list[tuple[int, str, str]] = []
    for line, rec in _records(path):
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
    return rows, invalid, digest
