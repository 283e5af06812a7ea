"""A bank statement uploaded through the dashboard's form (``form#statement-upload``, file field ``statement``):
checked, read and imported exactly as ``POST /api/v1/statements`` and ``jamsos reconcile import`` do it
(``commands.statement_file.read_statements``, ``commands.statement_import``), as the signed-in principal.

Invariants:
- Nothing is recorded unless the whole file was read and every statement's command was built and authorised:
  a wrong extension, an empty or oversized file, an unreadable workbook, an MT940 whose balances do not add up,
  a bad line — each is an :class:`InvalidInput` naming the form's field ``statement`` (the reader's own field,
  ``closing`` or ``line 7: amount``, leads the reason), and no event is written.
- The client's file name is only a label: the file is copied under a server-chosen name into a private directory
  (mode 0700) that is removed when the import ends, whatever happens.
- An upload of a file whose every statement was imported before records nothing and says so
  (:attr:`UploadResult.already_imported`): the same statement is never recorded twice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from commands.authorise import Actor, authorise
from commands.statement_file import read_statements
from commands.statement_import import AllAlreadyImported, import_statement_file, statement_commands
from commands.subject import subject_of
from eventstore.bootstrap import Ledger
from ledger.errors import InvalidInput, LedgerError
from ledger.values import format_count

FIELD = "statement"
UPLOAD_PATH = "/reconciliation/statements"
"""Where the page's form posts a statement: its body may be as large as an upload
(``Settings.http_upload_max_bytes``, ``api.app``); the page itself takes up to :data:`STATEMENT_BYTES_MAX`."""
SUFFIXES = (".csv", ".xlsx", ".xlsm", ".sta", ".mt940", ".txt")
"""What ``commands.statement_file`` reads: CSV, XLSX and MT940."""
STATEMENT_BYTES_MAX = 8 * 1024 * 1024
"""The largest statement file the page takes (a bank's month of MT940 is far smaller); larger ones go through
``jamsos reconcile import`` or the HTTP API, which run them as a job."""
STATEMENT_LINES_MAX = 20_000
"""The most credit lines a page upload imports in the request (the HTTP API's limit before it uses a job)."""
FILE_NAME_LEN_MAX = 255
COPY_CHUNK_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What an upload did: ``lines_read`` credit lines in the file's ``statements``, ``new_lines`` of them
    recorded now (in ``imported`` statements), ``already_imported`` statements recorded before; ``failure``
    the error that stopped the run after some statements were recorded (the same file again resumes)."""

    file: str
    format: str
    statements: int
    lines_read: int
    new_lines: int
    imported: int
    already_imported: int
    total_rp: int
    failure: str | None = None


def checked_name(name: str | None) -> str:
    """The client's file name, if it is a plain name with a suffix the readers know."""
    if not name:
        raise InvalidInput(FIELD, "no file chosen: choose the bank statement file (CSV, XLSX or MT940)")
    if len(name) > FILE_NAME_LEN_MAX:
        raise InvalidInput(FIELD, f"the file name is longer than {FILE_NAME_LEN_MAX} characters")
    if "/" in name or "\\" in name or ".." in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput(FIELD, "the file name must be a plain name: no path separator, '..' or control character")
    if not name.lower().endswith(SUFFIXES):
        raise InvalidInput(FIELD, f"{name}: a statement is read from a {', '.join(SUFFIXES)} file")
    return name


def _relabel(err: LedgerError, path: Path, label: str) -> LedgerError:
    """A reader's refusal as one of the form's field: ``statement``, the reader's field leading the reason, the
    server's file name replaced by the client's."""
    if not isinstance(err, InvalidInput):
        return err
    reason = err.reason.replace(str(path), label).replace(path.name, label)
    text = reason if err.field in ("file", FIELD) else f"{err.field}: {reason}"
    return InvalidInput(FIELD, text if label in text else f"{label}: {text}")


def _copy(source: BinaryIO, path: Path, label: str) -> int:
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(COPY_CHUNK_BYTES):
            size += len(chunk)
            if size > STATEMENT_BYTES_MAX:
                raise InvalidInput(FIELD, f"{label} is larger than {format_count(STATEMENT_BYTES_MAX)} bytes: "
                                          "import it with jamsos reconcile import or the HTTP API")
            out.write(chunk)
    if size == 0:
        raise InvalidInput(FIELD, f"{label} is empty (0 bytes): choose the statement file itself")
    return size


def import_upload(ledger: Ledger, actor: Actor, source: BinaryIO, file_name: str | None, payer_id: str,
                  period_start: date | None = None, period_end: date | None = None) -> UploadResult:
    """Read the uploaded file whole, authorise every statement's import for ``actor``, then import each once
    (see the module docstring). Raises :class:`InvalidInput` (field ``statement``) for a file it cannot take,
    ``Forbidden`` for a principal who may not import it, another refusal as the import command raises it."""
    label = checked_name(file_name)
    suffix = next(s for s in SUFFIXES if label.lower().endswith(s))
    directory = tempfile.mkdtemp(prefix="jamsos-web-upload-")  # mode 0700
    try:
        path = Path(directory) / f"upload{suffix}"
        _copy(source, path, label)
        try:
            read = read_statements(path, period_start=period_start, period_end=period_end,
                                   line_limit=STATEMENT_LINES_MAX)
            commands = statement_commands(read, payer_id, label)
        except LedgerError as err:
            raise _relabel(err, path, label) from None
        for cmd in commands:  # role and scope for every statement before any is recorded
            if cmd is not None:
                authorise(actor, cmd, subject_of(ledger, cmd))
        lines_read = sum(len(s.lines) for s in read.statements)
        try:
            summary, failure = import_statement_file(ledger, actor, read, payer_id, label)
        except AllAlreadyImported as done:
            summary, failure = done.summary, None
        return UploadResult(
            file=label, format=read.format, statements=len(read.statements), lines_read=lines_read,
            new_lines=summary["lines"], imported=summary["imported"], already_imported=summary["already_imported"],
            total_rp=summary["total_rp"], failure=None if failure is None else f"{failure.field}: {failure.reason}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
