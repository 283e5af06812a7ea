"""A command message body (``{"kind": …, "command_id": …, fields…}``, as the broker takes it) as the HTTP request
that runs the same command: the operation of the OpenAPI document whose ``x-command-kind`` is the kind, its path
placeholders filled from the body, the other fields as its JSON body — or, for the routes that take a file (cohort
import, statement upload), a CSV file made from the body's ``rows`` / ``lines`` and the form fields — and the
``Idempotency-Key`` header carrying the command id.

What the HTTP face makes itself is left out: a principal's ``token_sha256`` (the server draws the token) and
``password_argon2`` (the server hashes the password: the request carries :data:`PASSWORD`, whose hash the body
holds), ``effective_on`` (a principal changes today), and a
statement's ``statement_id`` / ``file_format`` (the server reads them from the file; ``file_name`` is the upload's
name). A member reveal is the member lookup with ``reveal`` and its ``purpose`` (``effective_on`` is its ``on``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from commands.cohort_file import COLUMNS as COHORT_COLUMNS

FACE_FIELDS = ("kind", "command_id")
SERVER_MADE = {"principal.add": ("token_sha256", "effective_on"),
               "principal.rotate_token": ("token_sha256", "effective_on"),
               "principal.set_password": ("password_argon2", "effective_on")}
"""Fields of a command the HTTP face makes itself: the client never sends them (a token is drawn by the server, a
password hashed by it, and a principal is added or its credentials changed today: the route takes no business
date)."""
PASSWORD = "kata sandi matriks 2026"
"""The web password of every ``principal.set_password`` body (its ``password_argon2`` is this one's hash): the
route takes the password itself."""
FROM_THE_FILE = {"member.import": ("rows",), "reconcile.import": ("lines", "statement_id", "file_format",
                                                                  "file_name")}
"""Fields of an upload's command the server reads from the file (or its name) rather than from the form."""
UPLOAD_NAMES = {"member.import": "cohort.csv", "reconcile.import": "statement.csv"}
STATEMENT_COLUMNS = ("sp2d_number", "date", "amount")


@dataclass(frozen=True)
class HttpRequest:
    """One request: ``json`` for a JSON body, else ``data`` (form fields) and ``files`` (multipart), or raw
    ``content`` (with its content type in ``headers``)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    content: bytes | None = None

    def send(self, http: Any, headers: dict[str, str] | None = None) -> Any:
        """Send it with ``http`` (a TestClient or an ``httpx.Client``), ``headers`` (the sender's) added."""
        every = {**self.headers, **(headers or {})}
        if self.content is not None:
            return http.request(self.method, self.path, headers=every, content=self.content)
        if self.files is not None:
            return http.request(self.method, self.path, headers=every, data=self.data, files=self.files)
        return http.request(self.method, self.path, headers=every, json=self.json)


@cache
def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    from api.openapi import document

    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in document()["paths"].items():
        for method, op in item.items():
            kind = op.get("x-command-kind") if isinstance(op, dict) else None
            if kind:
                assert kind not in found, f"two routes run {kind}"
                found[kind] = (method.upper(), path, op)
    return found


def operation(kind: str) -> tuple[str, str, dict[str, Any]]:
    """(method, path template, operation) of the route that runs ``kind``."""
    return _operations()[kind]


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def cohort_csv(rows: list[list[Any]]) -> bytes:
    """An ``ImportCohort``'s ``rows`` (``[line, {column: value}]``, from line 2 on) as the CSV file they were read
    from (``jamsos member import``'s columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COHORT_COLUMNS)
    for expected_line, (line, values) in enumerate(rows, start=2):
        assert line == expected_line, "rows must be consecutive lines from line 2 (the file has no gaps)"
        writer.writerow([_text(values.get(c, "")) for c in COHORT_COLUMNS])
    return out.getvalue().encode()


def statement_csv(body: dict[str, Any]) -> bytes:
    """An ``ImportStatement``'s period and ``lines`` as a bank statement CSV (``jamsos reconcile import``)."""
    out = io.StringIO()
    out.write(f"# period: {body['period_start']}..{body['period_end']}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    for expected_line, line in enumerate(body["lines"], start=1):
        assert line["line_no"] == expected_line, "lines must be numbered from 1 (the file's order)"
        writer.writerow([line["reference"], line["booked_on"], line["amount_rp"]])
    return out.getvalue().encode()


def _form_fields(op: dict[str, Any]) -> set[str]:
    schema = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    return set(schema["properties"]) - {"file"}


def request_for(kind: str, body: dict[str, Any], prefix: str = "") -> HttpRequest:
    """The request running ``body`` (a command message of ``kind``); ``prefix`` goes before the path (a base URL)."""
    assert body.get("kind", kind) == kind, (kind, body.get("kind"))
    method, template, op = operation(kind)
    fields = {k: v for k, v in body.items() if k not in FACE_FIELDS and k not in SERVER_MADE.get(kind, ())}
    path = template
    for name in _placeholders(template):
        assert name in fields, f"{kind}: the body has no {name} for the path"
        path = path.replace(f"{{{name}}}", str(fields.pop(name)))
    declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "header"}
    headers = {"Idempotency-Key": str(body["command_id"])} if "Idempotency-Key" in declared and "command_id" in body \
        else {}
    url = prefix + path
    if kind == "principal.set_password":
        from commands.passwords import verify_password

        assert verify_password(body["password_argon2"], PASSWORD), "the body's hash is PASSWORD's"
        fields["password"] = PASSWORD
    if kind == "member.reveal":
        lookup = {"nik": fields.pop("nik"), "reveal": True, "purpose": fields.pop("purpose")}
        if fields.get("effective_on") is not None:
            lookup["on"] = str(fields.pop("effective_on"))
        assert not fields, f"member.reveal: fields the lookup does not take: {sorted(fields)}"
        return HttpRequest(method, url, headers, json=lookup)
    if "multipart/form-data" in op.get("requestBody", {}).get("content", {}):
        content = cohort_csv(fields["rows"]) if kind == "member.import" else statement_csv(fields)
        name = str(fields.get("file_name") or UPLOAD_NAMES[kind])
        for derived in FROM_THE_FILE[kind]:
            fields.pop(derived, None)
        form = _form_fields(op)
        unsent = set(fields) - form
        assert not unsent, f"{kind}: fields the upload form does not take: {sorted(unsent)}"
        data = {k: _text(v) for k, v in fields.items() if v is not None}
        return HttpRequest(method, url, headers, data=data, files={"file": (name, content, "text/csv")})
    return HttpRequest(method, url, headers, json=fields)
