"""The characters no stored text may show raw, and their visible escapes (docs/rules.md#text-output). Pure and
light (no pydantic): the CLI's one-line errors use it before any verb is loaded. :mod:`ledger.text` holds the
rest of the text rules and re-exports :func:`printable`."""

from __future__ import annotations

import re

FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""C0 (TAB, CR, LF and ESC included), DEL, C1, the bidirectional embeddings, overrides and isolates, the line and
paragraph separators and lone surrogates."""


def describe(ch: str) -> str:
    """The visible escape of one forbidden character: ``\\x1b``, ``\\u202e``."""
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every forbidden character written as a visible escape: ``\\x1b``, ``\\x9d``, ``\\u202e``.
    Everything else (accents, Indonesian and Chinese names) is kept as it is."""
    return FORBIDDEN.sub(lambda m: describe(m.group()), text)


_LEFT_BY_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def json_escaped(document: str) -> str:
    """A JSON document (``json.dumps(..., ensure_ascii=False)``) with every forbidden character left raw (DEL, C1,
    bidirectional controls, separators, lone surrogates) written as a JSON ``\\uXXXX`` escape: the same data for
    a program reading it, nothing a terminal acts on. (They can only occur inside strings.)"""
    return _LEFT_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


_FORMULA_START = ("=", "+", "-", "@")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")


def spreadsheet_text(text: str) -> str:
    """A text cell for CSV or XLSX: :func:`printable`, and a leading apostrophe when a spreadsheet would read it
    as a formula (OWASP CSV injection); a number written as text (``-16800``, ``+62``) is left as it is."""
    out = printable(text)
    if out.startswith(_FORMULA_START) and not _NUMBER.fullmatch(out):
        return "'" + out
    return out
