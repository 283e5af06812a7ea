"""Importing a statement file: every statement in it, each once, in file order (``jamsos reconcile import``).

A bank delivers a day's or a month's statements in one MT940 file; a CSV/XLSX file is one statement. The file
is read and validated whole first (:func:`commands.statement_file.read_statements`): a bad line in any
statement refuses the file, naming statement, line and field, and nothing is recorded. Then each statement is
recorded by its own ``ImportStatement`` command, in its own transaction:

- ``imported`` — recorded now (``replayed`` when the same command id had recorded it before);
- ``already imported`` — the statement (by its id) was recorded before, by this file or another one: refused,
  nothing recorded, the others still import;
- ``no credit lines`` — a statement with only debits or no movements (a quiet day) has nothing to record;
- ``failed`` / ``not tried`` — another error (unknown payer, command id reused with another payload, a
  concurrent change past its retries) stops the run there: what was recorded before it stays recorded and is
  listed with the error, and running the same file again resumes (the recorded ones answer ``already
  imported``). When nothing was recorded before it, the error is raised as it is: a refusal that wrote nothing.

So a rerun of the same file records nothing and says ``already imported`` for each statement; it ends with
:class:`AllAlreadyImported` (exit 3 on the command line, a refusal: nothing new) so that a script can tell it
from an import. A file in which no statement has a credit line is refused as before (``InvalidInput``).

Command ids: with ``command_id`` given, a file of one statement uses it as it is; a file of several gives each
statement ``<command_id>/<first 16 hex digits of the statement id>``, so retrying with the same id replays each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from commands.authorise import Actor
from commands.handlers import execute
from commands.messages import ImportStatement, make
from commands.statement_file import ParsedStatement, StatementFile
from eventstore.bootstrap import Ledger
from ledger.errors import AlreadyDone, InvalidInput, LedgerError
from ledger.values import format_count, format_rp

IMPORTED = "imported"
ALREADY_IMPORTED = "already imported"
NO_CREDIT_LINES = "no credit lines"
FAILED = "failed"
NOT_TRIED = "not tried"
COMMAND_ID_MAX = 128
STATEMENT_ID_SUFFIX = 16


class AllAlreadyImported(AlreadyDone):
    """Every statement with credit lines in the file was imported before: nothing recorded (a rerun).

    One such statement: the error says so in its one line. Several: the line counts them and ``details`` has
    one line per statement (the command line prints them below the error, as for a cohort's bad rows)."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        rows = [r for r in summary["statements"] if r["status"] == ALREADY_IMPORTED]
        if len(rows) == 1:  # one line says it all
            self.details: list[str] = []
            super().__init__("file", f"{summary['file']}: {_label(rows[0])}: {rows[0]['reason']}")
            return
        self.details = [f"{_label(r)}: {r['reason']}" for r in rows]
        super().__init__("file", f"{summary['file']}: every statement was already imported "
                                 f"({format_count(len(rows))}), listed below; nothing recorded")


def _label(row: dict[str, Any]) -> str:
    ref = f" {row['reference']}" if row["reference"] else ""
    return (f"statement {row['number']}{ref} ({row['statement'][:12]}, line {row['first_line']}, "
            f"{row['period']}, {format_count(row['lines'])} credit lines, {format_rp(row['total_rp'])})")


def statement_command_id(command_id: str | None, stmt: ParsedStatement, statements: int) -> str | None:
    """The command id of one statement's import (see the module docstring)."""
    if command_id is None or statements == 1:
        return command_id
    derived = f"{command_id}/{stmt.sha256[:STATEMENT_ID_SUFFIX]}"
    if len(derived) > COMMAND_ID_MAX:
        raise InvalidInput("command_id", f"at most {COMMAND_ID_MAX - STATEMENT_ID_SUFFIX - 1} characters for a "
                                         f"file of several statements (each gets /<statement id>)")
    return derived


def statement_commands(
    read: StatementFile, payer_id: str, file_name: str, *, effective_on: date | None = None,
    command_id: str | None = None,
) -> list[ImportStatement | None]:
    """One command per statement with credit lines (``None`` for the others), all built — and so validated —
    before any is executed."""
    if not any(stmt.lines for stmt in read.statements):
        raise InvalidInput("file", f"{file_name}: no statement has credit lines; nothing to record")
    commands: list[ImportStatement | None] = []
    for stmt in read.statements:
        if not stmt.lines:
            commands.append(None)
            continue
        fields: dict[str, Any] = {"effective_on": effective_on,
                                  **stmt.import_fields(payer_id, file_name, read.sha256)}
        cid = statement_command_id(command_id, stmt, len(read.statements))
        if cid is not None:
            fields["command_id"] = cid
        try:
            commands.append(make(ImportStatement, **fields))
        except InvalidInput as err:
            raise _on_file_line(err, stmt, len(read.statements)) from None
    return commands


def _on_file_line(err: InvalidInput, stmt: ParsedStatement, statements: int) -> InvalidInput:
    """A command field error (``lines.3.description``) named as the file's line (``line 17: description``)."""
    m = re.fullmatch(r"lines\.(\d+)\.(\w+)", err.field)
    where = f"statement {stmt.number}: " if statements > 1 else ""
    if m is None or int(m[1]) >= len(stmt.lines):
        return InvalidInput(err.field, f"{where}{err.reason}")
    return InvalidInput(f"line {stmt.lines[int(m[1])].line_no}: {m[2]}", f"{where}{err.reason}")


def import_statement_file(
    ledger: Ledger, actor: Actor, read: StatementFile, payer_id: str, file_name: str, *,
    effective_on: date | None = None, command_id: str | None = None,
) -> tuple[dict[str, Any], LedgerError | None]:
    """Import each statement of ``read``; the summary lists every statement with its status, and the error
    that stopped the run after some were recorded, if one did (see the module docstring). When nothing was
    recorded, raises: :class:`AllAlreadyImported` on a rerun, else the error that stopped it."""
    commands = statement_commands(read, payer_id, file_name, effective_on=effective_on, command_id=command_id)
    rows: list[dict[str, Any]] = []
    failure: LedgerError | None = None
    for stmt, cmd in zip(read.statements, commands, strict=True):
        row = _row(stmt)
        if failure is not None:
            row["status"] = NOT_TRIED
        elif cmd is None:
            row["status"] = NO_CREDIT_LINES
        else:
            try:
                result = execute(ledger, cmd, actor)
            except AlreadyDone as err:
                row.update(status=ALREADY_IMPORTED, reason=err.reason)
            except LedgerError as err:
                failure = err
                row.update(status=FAILED, reason=f"{err.field}: {err.reason}")
            else:
                row.update(status=IMPORTED, replayed=bool(result.get("replayed", False)))
        rows.append(row)
    summary = _summary(read, payer_id, file_name, rows)
    if summary["imported"] == 0:  # nothing recorded: a plain refusal
        raise failure if failure is not None else AllAlreadyImported(summary)
    return summary, failure


def _row(stmt: ParsedStatement) -> dict[str, Any]:
    return {"number": stmt.number, "reference": stmt.reference, "statement": stmt.sha256,
            "first_line": stmt.first_line, "period": f"{stmt.period_start}..{stmt.period_end}",
            "lines": len(stmt.lines), "total_rp": stmt.total_rp, "debit_lines_skipped": stmt.debit_lines_skipped,
            "status": NOT_TRIED}


def _summary(read: StatementFile, payer_id: str, file_name: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in rows if r["status"] == IMPORTED]
    return {
        "file": file_name, "file_sha256": read.sha256, "format": read.format, "payer_id": payer_id,
        "statements": list(rows), "imported": len(done),
        "already_imported": sum(1 for r in rows if r["status"] == ALREADY_IMPORTED),
        "lines": sum(r["lines"] for r in done), "total_rp": sum(r["total_rp"] for r in done),
    }
