"""Text that enters or leaves the ledger: one rule for every text field (docs/rules.md#text-input) and one way
to show text that is already stored (docs/rules.md#text-output). Pure: no I/O.

Input (commands, cohort files, statement files):

- no control character: C0 (U+0000–U+001F, NUL, TAB, CR, LF and ESC included), DEL (U+007F), C1 (U+0080–U+009F,
  OSC U+009D and CSI U+009B included), the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
  U+2066–U+2069), the line and paragraph separators (U+2028, U+2029) and lone surrogates;
- surrounding spaces are dropped; a required field of spaces only is empty and refused;
- a *free-text* field stored in clear (references, descriptions, reasons, legal basis, notes, sources) must not
  hold a NIK-shaped digit run (:func:`nik_runs`): personal data goes only into the sealed fields.

A bank statement is not the ledger's to refuse for what a payer typed in a transfer's details: its text is
neutralised instead (:func:`from_bank`: control characters escaped, a NIK-shaped run masked).

Output: :func:`printable` escapes the same characters (``\\x1b``, ``\\u202e``) in anything shown or exported,
so an event stored before these rules cannot drive a terminal or a spreadsheet; :func:`spreadsheet_text` also
defuses a text cell that a spreadsheet would run as a formula (a leading ``=``, ``+``, ``-`` or ``@`` gets a
leading apostrophe; TAB and CR are already escaped: the OWASP rule), leaving numbers (``-16800``) alone.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from ledger.errors import InvalidInput
from ledger.escapes import FORBIDDEN as _FORBIDDEN
from ledger.escapes import describe as _describe
from ledger.escapes import json_escaped as json_escaped  # re-exported, as the two below (light: ledger.escapes)
from ledger.escapes import printable as printable  # re-exported: the one way to show stored text
from ledger.escapes import spreadsheet_text as spreadsheet_text
from ledger.identity import NIK_LENGTH, validate_nik

"""The forbidden characters JSON writes raw (it escapes C0 in strings; raw C0 in a document is its whitespace)."""
NIK_MASK = "[NIK disamarkan]"
"""What replaces a NIK-shaped run in bank text (``disamarkan``: masked)."""

_DIGIT_GROUPS = re.compile(r"\d+(?:[ .\-]\d+)*")
"""Digit groups joined by single spaces, dots or dashes: the ways a NIK is written (``3171 0112 0190 0001``,
``317101.120190.0001``, ``31-71-01-120190-0001``)."""
_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def forbidden_characters(text: str) -> list[str]:
    """The escapes of the forbidden characters in ``text``, in order, without repeats."""
    return list(dict.fromkeys(_describe(ch) for ch in _FORBIDDEN.findall(text)))


def nik_runs(text: str) -> list[str]:
    """The NIK-shaped digit runs in ``text``: 16 digits, written together or in groups joined by single spaces,
    dots or dashes, not part of a longer digit run, that form a valid NIK (known province, real birth date,
    non-zero serial: :func:`ledger.identity.validate_nik`). Digits grouped by thousands (``1.000.000.000.000.000``)
    are an amount, never a NIK. [choice] The NIK check keeps other 16-digit numbers (a virtual account, an
    SP2D number starting ``00``) out of the way; a NIK in a longer digit run is not found."""
    found: list[str] = []
    for match in _DIGIT_GROUPS.finditer(text):
        run = match.group()
        groups = re.split(r"[ .\-]", run)
        separators = re.findall(r"[ .\-]", run)
        for first in range(len(groups)):
            digits = ""
            for last in range(first, len(groups)):
                digits += groups[last]
                if len(digits) > NIK_LENGTH:
                    break
                if len(digits) < NIK_LENGTH:
                    continue
                tail = zip(separators[first:last], groups[first + 1 : last + 1], strict=True)
                joined = groups[first] + "".join(sep + group for sep, group in tail)
                if _THOUSANDS.fullmatch(joined):
                    continue
                try:
                    validate_nik(digits)
                except InvalidInput:
                    continue
                found.append(joined)
    return found


def require_text(value: object, field: str = "text", *, required: bool = True, free_text: bool = False) -> str:
    """``value`` stripped, or :class:`InvalidInput` naming ``field``: a forbidden character, a required field
    empty or of spaces only, a NIK-shaped run in a free-text field."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, got {type(value).__name__}")
    bad = forbidden_characters(value)
    if bad:
        raise InvalidInput(field, f"must not contain control or bidirectional-override characters (found "
                                  f"{', '.join(bad)}); see docs/rules.md#text-input")
    text = value.strip()
    if required and not text:
        raise InvalidInput(field, "must not be empty or spaces only")
    if free_text and nik_runs(text):
        raise InvalidInput(field, "holds a NIK-shaped number: personal data must not go into free text (it would "
                                  "be stored in clear forever); give the NIK only in the nik field")
    return text


def _validated(value: str, *, required: bool, free_text: bool) -> str:
    """:func:`require_text` for a pydantic field: the error names the field it is on (its ``loc``)."""
    try:
        return require_text(value, required=required, free_text=free_text)
    except InvalidInput as err:
        raise PydanticCustomError("invalid_text", "{reason}", {"reason": err.reason}) from None


def _text(value: str) -> str:
    return _validated(value, required=False, free_text=False)


def _required_text(value: str) -> str:
    return _validated(value, required=True, free_text=False)


def _free_text(value: str) -> str:
    return _validated(value, required=False, free_text=True)


def _required_free_text(value: str) -> str:
    return _validated(value, required=True, free_text=True)


# pydantic names the field in the error (``commands.messages.field_error``); the lengths stay on each field.
Text = Annotated[str, AfterValidator(_text)]
"""Optional text (may be empty), e.g. a sealed address: no forbidden character, stripped."""
RequiredText = Annotated[str, AfterValidator(_required_text)]
"""Text that must say something, e.g. a sealed name: no forbidden character, not spaces only."""
FreeText = Annotated[str, AfterValidator(_free_text)]
"""Optional free text stored in clear (legal basis, payer name, description): also no NIK-shaped run."""
RequiredFreeText = Annotated[str, AfterValidator(_required_free_text)]
"""Required free text stored in clear (a reason, a note, a source): also no NIK-shaped run."""
NoNik = AfterValidator(_free_text)
"""Add to a constrained type (a payment reference, a code) so it holds no NIK-shaped run."""


def from_bank(text: str, *, mask_nik: bool = False) -> str:
    """Text a bank wrote (a statement's reference, account or line details), made safe to record: forbidden
    characters escaped (``\\x1b``), and with ``mask_nik`` a NIK-shaped run replaced by :data:`NIK_MASK`
    [choice: the statement is the bank's record and is imported; the NIK never reaches the log]."""
    out = printable(text).strip()
    if mask_nik:
        for run in sorted(set(nik_runs(out)), key=len, reverse=True):
            out = out.replace(run, NIK_MASK)
    return out
