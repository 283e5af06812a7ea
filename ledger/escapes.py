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
