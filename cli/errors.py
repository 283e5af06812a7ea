"""The CLI's one-line refusals: ``error: <field>: <reason>``. Light (no verb, no store), so that a usage error
found before any verb loads (an unknown verb, a missing option) costs no more than the help."""

from __future__ import annotations

import sys

from ledger.escapes import printable


def one_line(text: object) -> str:
    return printable(" ".join(str(text).split()))


def print_error(field: str, reason: str) -> None:
    """``error: <field>: <reason>`` as exactly one line (rich would wrap it at the terminal width)."""
    sys.stderr.write(f"error: {one_line(field)}: {one_line(reason)}\n")
