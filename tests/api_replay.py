"""Running commands through the HTTP API as a client would: the route of each command kind read from the OpenAPI
document (``x-command-kind``), the command's fields as the JSON body or as an uploaded file, the command id as the
``Idempotency-Key``, a job polled until it ends. Used to replay the demo through HTTP (tests/test_api_demo.py)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from commands.authorise import Actor
from commands.handlers import execute
from commands.messages import Command, ImportCohort, ImportStatement
from eventstore.bootstrap import Ledger
from tests.api_requests import SERVER_MADE

JOB_WAIT_S = 120.0
JOB_POLL_S = 0.01
COHORT_COLUMNS = ("nik", "name", "birth_date", "address", "village_code", "role", "declared_income_rp")


def routes_by_kind(http: TestClient) -> dict[str, tuple[str, str]]:
    """Command kind → (method, path template), from the served OpenAPI document."""
    spec = http.get("/api/v1/openapi.json").json()
    out: dict[str, tuple[str, str]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            kind = op.get("x-command-kind") if isinstance(op, dict) else None
            if kind:
                assert kind not in out, f"two routes for {kind}"
                out[kind] = (method.upper(), path)
    return out


def cohort_csv(command: ImportCohort) -> bytes:
    """The cohort file whose rows are the command's (line 1 is the header, so row ``n`` is on line ``n``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COHORT_COLUMNS)
    for line, (number, row) in enumerate(command.rows, start=2):
        assert number == line, "rows numbered as the lines of their file"
        values = row.model_dump(mode="json")
        writer.writerow(["" if values.get(c) is None else values[c] for c in COHORT_COLUMNS])
    return out.getvalue().encode("utf-8")


class HttpExecutor:
    """Runs each command over HTTP with its principal's token (``None``: the server's local admin, in process, as
    ``jamsos principal add`` is run on the server). A refusal raises :class:`AssertionError` with the problem."""

    def __init__(self, http: TestClient, ledger: Ledger, files_dir: Path) -> None:
        self.http = http
        self.ledger = ledger
        self.files_dir = files_dir
        self.routes = routes_by_kind(http)
        self.requests = 0
        self.kinds: set[str] = set()
        """The command kinds sent over HTTP."""

    def __call__(self, actor: Actor, command: Command, token: str | None,
                 face_input: dict[str, str] | None = None) -> dict[str, Any]:
        if token is None:
            return execute(self.ledger, command, actor)
        kind: str = command.kind  # type: ignore[attr-defined]
        method, template = self.routes[kind]
        fields = command.model_dump(mode="json", exclude={"kind", "command_id", *SERVER_MADE.get(kind, ())})
        fields.update(face_input or {})  # what the server derives these from (a password: it hashes it)
        path = template
        for name in [p[1:-1] for p in template.split("/") if p.startswith("{")]:
            path = path.replace("{" + name + "}", quote(str(fields.pop(name)), safe=""))
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": command.command_id}
        self.requests += 1
        self.kinds.add(kind)
        if isinstance(command, ImportCohort):
            form = {k: str(v) for k, v in fields.items() if k in ("agreement_id", "region_code", "effective_on")
                    and v is not None}
            response = self.http.request(method, path, headers=headers, data=form,
                                         files={"file": ("cohort.csv", cohort_csv(command), "text/csv")})
        elif isinstance(command, ImportStatement):
            form = {"payer_id": command.payer_id, "effective_on": str(command.effective_on)}
            content = (self.files_dir / command.file_name).read_bytes()
            response = self.http.request(method, path, headers=headers, data=form,
                                         files={"file": (command.file_name, content, "text/csv")})
        else:
            response = self.http.request(method, path, headers=headers, json=fields)
        assert response.status_code < 300, f"{kind} over HTTP: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        if response.status_code == 202:
            return self.finished(response.headers["Location"], headers)
        return body

    def finished(self, location: str, headers: dict[str, str]) -> dict[str, Any]:
        """The result of the job at ``location`` once it succeeded."""
        deadline = time.monotonic() + JOB_WAIT_S
        auth = {"Authorization": headers["Authorization"]}
        while True:
            job = self.http.get(location, headers=auth).json()
            if job["state"] == "succeeded":
                result: dict[str, Any] = job["result"]
                return result
            assert job["state"] in ("queued", "running"), f"job {location}: {job}"
            assert time.monotonic() < deadline, f"job {location} did not finish: {job}"
            time.sleep(JOB_POLL_S)
