"""Rupiah and counts the Indonesian way in every message (issue 10, section 4): ``Rp3.058``, ``1.234`` members.

One function formats them (``ledger.values.format_rp`` / ``format_count``); a scan of the source tree fails on
any message that groups digits itself (``{x:,}``, ``format(x, ",")``, ``"{:,}".format``) or writes ``Rp``
before a raw value (``f"Rp{x}"``, ``"Rp" + str(x)``). ``bench/`` is left out: it prints measurements for
developers in the README's notation, not messages to users.
"""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from ledger.errors import RuleViolation
from ledger.reconciliation import OpenInvoice, StatementLine, reconcile
from ledger.values import format_count, format_rp

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("ledger", "commands", "projections", "services", "eventstore")
FORMATTERS = {("ledger/values.py", "format_count"), ("ledger/values.py", "format_rp")}
"""The one place allowed to build the text."""


def _text(node: ast.expr | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) for v in node.values)
    return ""


def offences(source: str, where: str = "<string>") -> list[str]:
    """Every place in ``source`` that formats digits or rupiah without ``format_count`` / ``format_rp``."""
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (where, node.name) in FORMATTERS:
            allowed.update(id(n) for n in ast.walk(node))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in allowed:
            continue
        at = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.JoinedStr):
            for before, value in zip([None, *node.values], node.values, strict=False):
                if not isinstance(value, ast.FormattedValue):
                    continue
                spec = _text(value.format_spec)
                if "," in spec or "_" in spec:
                    found.append(f"{at}: groups digits with {{…:{spec}}}; use format_count / format_rp")
                if _text(before).rstrip().endswith(("Rp", "Rp.", "IDR")):
                    found.append(f"{at}: writes rupiah by hand (Rp{{…}}); use format_rp")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "format" and len(node.args) == 2:
                spec = _text(node.args[1])
                if "," in spec or "_" in spec:
                    found.append(f"{at}: format(…, {spec!r}); use format_count / format_rp")
            if isinstance(func, ast.Attribute) and func.attr == "format" and (
                    ":," in _text(func.value) or ":_" in _text(func.value)):
                found.append(f"{at}: str.format groups digits; use format_count / format_rp")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod) and (
                _text(node.left).rstrip().endswith(("Rp", "Rp.", "IDR")) or "%," in _text(node.left)):
            found.append(f"{at}: builds rupiah text by hand; use format_rp")
    return found


def test_the_scan_finds_every_kind_of_hand_formatting() -> None:
    bad = ['f"Rp{x:,}"', 'f"{n:,} members"', 'f"{n:_}"', 'f"Rp{x}"', 'f"IDR {x}"', 'format(n, ",")',
           '"{:,}".format(n)', '"Rp" + str(x)', 'f"{x:,.0f}"']
    for snippet in bad:
        assert offences(snippet), snippet
    good = ['f"{format_rp(x)} paid"', 'f"{n} members"', 'f"{x:.1f} s"', 'f"{d:%Y-%m-%d}"', '"Rp" in text']
    for snippet in good:
        assert offences(snippet) == [], snippet


def test_no_message_in_the_source_formats_numbers_by_hand() -> None:
    found: list[str] = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            found += offences(path.read_text(encoding="utf-8"), rel)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(("amount", "text"), [
    (0, "Rp0"), (7, "Rp7"), (999, "Rp999"), (3_058, "Rp3.058"), (16_800, "Rp16.800"), (100_000, "Rp100.000"),
    (2_429_520_000, "Rp2.429.520.000"), (-16_800, "-Rp16.800"), (-5, "-Rp5"), (10**15, "Rp1.000.000.000.000.000"),
])
def test_format_rp(amount: int, text: str) -> None:
    assert format_rp(amount) == text


@pytest.mark.parametrize(("n", "text"), [(0, "0"), (12, "12"), (1_234, "1.234"), (12_200, "12.200"),
                                         (1_000_000, "1.000.000"), (-1_234, "-1.234")])
def test_format_count(n: int, text: str) -> None:
    assert format_count(n) == text


@pytest.mark.parametrize("value", [16800.0, "16800", True])
def test_format_count_takes_integers_only(value: object) -> None:
    with pytest.raises(TypeError):
        format_count(value)  # type: ignore[arg-type]


# -- real messages ---------------------------------------------------------------------------------------


def test_an_amount_mismatch_shows_rupiah_the_indonesian_way() -> None:
    day = date(2026, 1, 20)
    line = StatementLine("s", 4, "SP2D-1", day, 3_058, "1", "INV-A-2026-01", day)
    invoice = OpenInvoice("INV-A-2026-01", "INV-A-2026-01", "P", day, 16_800)
    (exc,) = reconcile([line], [invoice], payer_id="P").exceptions
    assert "Rp16.800 outstanding, transfer is Rp3.058" in exc.reason
    assert "," not in exc.reason.replace(", ", " ")


def test_a_hand_match_refusal_shows_rupiah_the_indonesian_way() -> None:
    from ledger.aggregate import CommandContext
    from ledger.events import Allocation, ResolutionAction
    from ledger.statement import OpenException, Statement

    statement = Statement(__import__("uuid").uuid4())
    statement.state.open_exceptions = {"4": OpenException(kind="AMOUNT_MISMATCH", amount_rp=3_058)}
    ctx = CommandContext.__new__(CommandContext)
    with pytest.raises(RuleViolation) as err:
        statement.resolve(ctx, 4, ResolutionAction.MATCH,
                          [Allocation(invoice_ref="INV-1", agreement_code="A", amount_rp=1_500)], "by hand",
                          date(2026, 2, 1))
    assert err.value.reason == "a hand match allocates the whole line: Rp3.058 (allocated Rp1.500)"
