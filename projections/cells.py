"""What a report column holds, decided in one place: its kind (from the column's name, then the value's type),
the value and number format an XLSX cell gets, the text LibreOffice shows for it, and how wide that text is.

Number formats start with ``[$-421]`` (the Indonesian locale), so LibreOffice groups thousands with ``.`` and
marks decimals with ``,`` whatever the reader's locale: ``Rp2.459.520.000``, ``1.234``, ``40,37%``,
``20/11/2026``. (Excel shows the separators of the reader's regional settings instead.)

A period (``2025-01``, a contribution month, *iuran bulan*) stays text: it is an identifier, not a day (a
self-payer's month runs from their registration day, so no one date stands for it), it sorts and filters
correctly as text, and it reads the same as in the JSON, the CSV and on the invoices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from enum import StrEnum

from ledger.escapes import printable
from ledger.values import format_count


class Kind(StrEnum):
    """The kinds of cell a report writes; each has one number format and one way to show its values."""

    MONEY = "money"
    PERCENT = "percent"
    DATE = "date"
    PERIOD = "period"
    COUNT = "count"
    DECIMAL = "decimal"
    FLAG = "flag"
    TEXT = "text"


SUFFIX_KINDS: tuple[tuple[str, Kind], ...] = (("_rp", Kind.MONEY), ("_pct", Kind.PERCENT), ("_on", Kind.DATE))
"""Column name endings, the first rule: units last (``amount_rp``, ``ucj_pct``, ``due_on``)."""
PERIOD_COLUMNS = frozenset({"period", "month", "paid_through"})
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

NUMBER_FORMATS: dict[Kind, str] = {
    Kind.MONEY: '[$-421]"Rp"#,##0;-"Rp"#,##0',
    Kind.PERCENT: "[$-421]0.00%",
    Kind.DATE: "[$-421]dd/mm/yyyy",
    Kind.PERIOD: "@",
    Kind.COUNT: "[$-421]#,##0",
    Kind.DECIMAL: "[$-421]#,##0.0",
    Kind.FLAG: "General",
    Kind.TEXT: "General",
}
NUMERIC_KINDS = frozenset({Kind.MONEY, Kind.PERCENT, Kind.DATE, Kind.COUNT, Kind.DECIMAL})
"""Kinds LibreOffice shows as ``###`` when the column is too narrow (text only overflows or is cut)."""


def kind_of(column: str, values: Iterable[object] = ()) -> Kind:
    """The column's kind: by its name first, else by its first value that is not None."""
    for suffix, kind in SUFFIX_KINDS:
        if column.endswith(suffix):
            return kind
    if column in PERIOD_COLUMNS:
        return Kind.PERIOD
    value = next((v for v in values if v is not None), None)
    if isinstance(value, bool):
        return Kind.FLAG
    if isinstance(value, int):
        return Kind.COUNT
    if isinstance(value, float):
        return Kind.DECIMAL
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        return Kind.DATE
    return Kind.TEXT


def label(column: str) -> str:
    """The header finance reads: ``billed_minus_received_rp`` → ``billed minus received (Rp)``."""
    for suffix, unit in (("_rp", "Rp"), ("_pct", "%")):
        if column.endswith(suffix):
            return f"{column.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return column.replace("_", " ")


def cell_value(kind: Kind, value: object) -> object:
    """What the XLSX cell stores: dates as dates, percentages as fractions (40.37 → 0.4037), the rest as is.
    A value that does not fit its kind (an unparsable date) is kept as it is, shown as text. Text has its control
    and bidirectional characters escaped (``ledger.text.printable``, docs/rules.md#text-output): a stored event
    from before the input rules cannot reach the sheet raw (openpyxl even refuses most of them)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = printable(value)
    if kind is Kind.PERCENT and isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            return float(Decimal(str(value)) / 100)
        except ArithmeticError:
            return str(value)
    if kind is Kind.DATE and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _grouped(number: int) -> str:
    return format_count(number)


def shown(kind: Kind, value: object) -> str:
    """The text LibreOffice shows for ``cell_value(kind, value)`` under ``NUMBER_FORMATS[kind]``."""
    stored = cell_value(kind, value)
    if stored is None:
        return ""
    if isinstance(stored, bool):
        return "TRUE" if stored else "FALSE"
    if kind is Kind.MONEY and isinstance(stored, int):
        return ("-" if stored < 0 else "") + "Rp" + _grouped(abs(stored))
    if kind is Kind.COUNT and isinstance(stored, int):
        return ("-" if stored < 0 else "") + _grouped(abs(stored))
    if kind is Kind.PERCENT and isinstance(stored, float):
        return f"{stored * 100:.2f}".replace(".", ",") + "%"
    if kind is Kind.DECIMAL and isinstance(stored, int | float):
        whole, _, tenth = f"{abs(stored):.1f}".partition(".")
        return ("-" if stored < 0 else "") + _grouped(int(whole)) + "," + tenth
    if isinstance(stored, date):
        return stored.strftime("%d/%m/%Y")
    return str(stored)


# --- how wide a text is ------------------------------------------------------------------------------

FONT_NAME = "DejaVu Sans"
"""The workbook's font: installed with LibreOffice on Debian (fonts-dejavu-core), readable, metrics known."""
FONT_SIZE = 10
DIGIT_EM = 0.636
"""DejaVu Sans digits are 0.636 em wide; a column's width counts in digit widths of the default font."""
_GROUPS: tuple[tuple[str, float], ...] = (
    (" .,:;'|iIjlJ", 0.34), ("ftr()[]/-!", 0.42), ("0123456789", DIGIT_EM), ("m", 0.98), ("w", 0.82),
    ("abcdeghknopqsuvxyz", 0.64), ("MW", 0.99), ("ABCDEFGHKLNOPQRSTUVXYZ", 0.79), ("_", 0.5), ("%", 0.95),
    ("#+=<>~", 0.84),
)
"""DejaVu Sans advance widths in em (its hmtx table), grouped, each group at its widest member; any other
character counts 1 em. Bold is at most 1.24 × as wide (``i``, ``f``)."""
_EM = {ch: em for chars, em in _GROUPS for ch in chars}
BOLD_FACTOR = 1.24


def text_width(text: str, bold: bool = False) -> float:
    """``text``'s width in column units (digit widths), an estimate never narrower than the font draws it."""
    em = sum(_EM.get(ch, 1.0) for ch in text)
    return em * (BOLD_FACTOR if bold else 1.0) / DIGIT_EM


LIBREOFFICE_MARGIN = 0.5
"""Measured: LibreOffice shows an n-digit number in a column at least n + 0.5 digit widths wide, else ``###``."""
INDENT_UNITS = 1.5
"""Measured: an indent of 1 (Excel's, about three spaces) takes 1.5 units. LibreOffice draws it only for
left-aligned cells (a right-aligned number sits at the right edge whatever its indent)."""


def needed_width(text: str, indent: int = 0, bold: bool = False) -> float:
    """The narrowest column (in units) LibreOffice shows ``text`` whole in, ``indent`` levels from its left."""
    return text_width(text, bold) + LIBREOFFICE_MARGIN + indent * INDENT_UNITS


def wrapped(text: str, width: float, indent: int = 0, bold: bool = False, reserve: float = 0.0) -> list[str]:
    """``text`` broken at spaces into lines that each fit a column ``width`` units wide (``reserve`` units kept
    free beside each line); a word wider than the column stays whole on its own line."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and needed_width(f"{lines[-1]} {word}", indent, bold) + reserve <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


BREAK_AFTER = re.compile(r"(?<=[ ,;/-])")
"""Where LibreOffice may break a line: after a space, and also after , ; / - (it breaks ``2025-10`` too)."""
WRAP_SLACK = 0.85
"""A wrapped line is filled at least this far (the next piece did not fit on it)."""


def wrapped_lines(text: str, width: float, indent: int = 0) -> int:
    """An upper bound on the lines LibreOffice wraps ``text`` into, in a column ``width`` units wide."""
    room = (width - needed_width("", indent)) * WRAP_SLACK
    lines, used = 1, 0.0
    for piece in BREAK_AFTER.split(text):
        need = text_width(piece)
        if used and used + need > room:
            lines, used = lines + 1, 0.0
        while need > room:  # a piece wider than the column is cut wherever it must be
            lines, need = lines + 1, need - room
        used += need
    return lines
