"""`jamsos ... --help` reads whole: no choice name broken across lines, every report described, the demo's store
described as what it takes. Rendered by typer's rich help at several terminal widths."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.app import app
from cli.root import subcommands
from ledger.errors import InvalidInput
from projections.reports import MONEY_REPORTS, REPORT_DESCRIPTIONS, REPORTS, build_report

WIDTHS = (60, 80, 120)
runner = CliRunner()


def commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and group of `jamsos` (typer's click objects), with the words that reach it."""
    def walk(path: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in subcommands(command).items():
            yield from walk([*path, name], sub)

    yield from walk([], typer.main.get_command(app))


def help_text(args: list[str], width: int) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(width), "TERMINAL_WIDTH": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def choice_params() -> list[tuple[list[str], list[str]]]:
    """(command path, choices) of every parameter that takes one of a fixed set of names."""
    out = []
    for path, command in commands():
        for param in command.params:
            names = getattr(param.type, "choices", None)
            if names:
                out.append((path, [str(c) for c in names]))
    return out


def test_there_are_choice_options_to_check() -> None:
    names = {c for _, choices in choice_params() for c in choices}
    assert {"JKK_DISABILITY", "APBD_KOTA", "DBH_SAWIT", "UNIVERSITY", "SEMESTER"} <= names


WORD = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")  # role names have hyphens: claims-officer


def broken_names(text: str, choices: list[str]) -> list[str]:
    """Choice names split across two lines: a line holds a proper prefix of the name and the next line a word
    starting with the rest (``JK`` / ``K_DISABILITY``), in any column of the help's boxes."""
    lines = text.splitlines()
    found = []
    for line, after in itertools.pairwise(lines):
        starts = WORD.findall(after)
        for word in WORD.findall(line):
            for choice in choices:
                rest = choice[len(word):]
                if choice != word and choice.startswith(word) and any(s.startswith(rest) for s in starts):
                    found.append(f"{word} / {rest}")
    return found


def test_a_broken_name_is_found() -> None:
    old = ("│ *  --type   <JKM_DEATH|JKK_DEATH|JK  Benefit claimed. │\n"
           "│             K_DISABILITY|JKK_STMB|J  [required]      │")
    assert broken_names(old, ["JKM_DEATH", "JKK_DISABILITY", "JKK_MEDICAL"]) == ["JK / K_DISABILITY"]
    assert broken_names("STMB: months unable to work.\nJKK_STMB", ["JKK_STMB"]) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_no_choice_name_is_broken_across_lines(width: int) -> None:
    problems = []
    for path, choices in choice_params():
        text = help_text(path, width)
        words = set(WORD.findall(text))
        command = f"jamsos {' '.join(path)}"
        problems += [f"{command}: {c} not shown whole" for c in choices if c not in words]
        problems += [f"{command}: {b}" for b in broken_names(text, choices)]
    assert problems == []


def test_the_report_catalogue_is_every_report_there_is() -> None:
    assert set(REPORT_DESCRIPTIONS) == {*REPORTS, *MONEY_REPORTS, "audit", "access"}
    with pytest.raises(InvalidInput) as refused:
        build_report(None, "no-such-report", None, None, None)  # type: ignore[arg-type]
    known = refused.value.reason.split("known: ", 1)[1].split(", ")
    assert sorted(known) == sorted(REPORT_DESCRIPTIONS)


@pytest.mark.parametrize("args", [["report"], ["report", "members"], ["report", "reconciliation"]])
def test_every_report_is_described_in_the_report_help(args: list[str]) -> None:
    text = " ".join(help_text(args, 80).split())
    for name, description in REPORT_DESCRIPTIONS.items():
        assert f"{name}: {description}." in text, f"{name} is not described in `jamsos {' '.join(args)} --help`"


def test_the_demo_store_help_says_what_it_takes() -> None:
    text = " ".join(help_text(["demo"], 80).split())
    assert "SQLite file" in text and "PostgreSQL URL" in text and "postgresql://" in text
