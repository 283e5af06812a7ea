"""The authorisation matrix over HTTP (docs/rules.md#principals).

- Every command kind, sent by the six senders of ``tests/auth_matrix.py`` to the route the OpenAPI document gives
  it (``tests/api_requests.py``), in process and through a real uvicorn: only the right sender reaches a handler;
  the others hear 401 ``unauthenticated`` (no, wrong or revoked token) or 403 ``forbidden`` (out of scope, wrong
  role) and write nothing; every event the right sender causes names it as ``actor``.
- Each role reaches exactly the routes whose ``x-roles`` name it, and ``x-roles`` is the authorisation table.
- Each scope reaches exactly its own subjects: every write route refuses a Pontianak principal (``region:61.71``
  or ``payer:`` the Pontianak payer) a Singkawang subject, writing nothing, and lets it act on its own; the reads
  not covered by ``tests/test_api_reads.py`` (quotes, jobs) show it only its own rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from commands.authorise import role_for
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.statement import Statement
from tests import auth_matrix
from tests.api_requests import request_for
from tests.api_support import client, served

API = "/api/v1"
JOB_WAIT_S = 30.0
JOB_POLL_S = 0.02
FINISHED = ("succeeded", "failed", "interrupted")
REFUSED_STATUS = {"unauthenticated": 401, "forbidden": 403}
BUSINESS_REFUSALS = {"agreement.confirm_budget": 422, "reconcile.resolve": 404, "refund.settle": 404}
"""Right senders that reach their handler and are refused by a business rule, as through the CLI
(``tests/test_cli_matrix.py``): nothing pending to confirm (a 1 % amendment is in force at once: 422
rule_violation), the statement line is no open exception (404 naming ``line_no``) and no refund is due for a JKK
claim (404 naming ``claim_ref``)."""


def open_ledger(path: Path) -> Ledger:
    return bootstrap(f"sqlite:///{path}", clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = open_ledger(tmp_path / "matrix.db")
    yield ledger
    ledger.close()


def actors_after(ledger: Ledger, position: int) -> list[str]:
    """The ``actor`` of every event written after log position ``position``."""
    return [json.loads(state)["actor"] for *_, state in ledger.store.read_log(position, 100_000)]


def wait_job(http: TestClient | httpx.Client, location: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        got = http.get(location, headers=headers)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        if body["state"] in FINISHED:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(JOB_POLL_S)


def body_for(ledger: Ledger, bodies: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    """The matrix body of ``kind``; a resolution names the statement the upload recorded (its id is the file's)."""
    body = dict(bodies[kind])
    if kind == "reconcile.resolve":
        [row] = ledger.store.snapshots_of_kind("Statement")
        body["statement_id"] = ledger.store.load(Statement, row.aggregate_id).state.statement_id
    return body


def check_refusal(response: httpx.Response, expected: str, kind: str, variant: str) -> None:
    assert response.status_code == REFUSED_STATUS[expected], (kind, variant, response.status_code, response.text)
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert (problem["code"], problem["reason"]) == (expected, expected), (kind, variant, problem)
    assert problem["field"] == ("token" if expected == "unauthenticated" else "principal"), problem


def run_matrix(ledger: Ledger, http: TestClient | httpx.Client, variants: tuple[str, ...]) -> dict[str, int]:
    """Every kind by every sender of ``variants``; the status of each right sender refused by a business rule."""
    matrix = auth_matrix.prepare(ledger)
    refused: dict[str, int] = {}
    for kind in auth_matrix.order(list(matrix.bodies)):
        request = request_for(kind, body_for(ledger, matrix.bodies, kind))
        for variant in variants:
            before = ledger.store.max_notification_id()
            headers = matrix.headers(kind, variant)
            response = request.send(http, headers)
            if variant != "right":
                check_refusal(response, auth_matrix.REFUSED_CODE[variant], kind, variant)
                assert ledger.store.max_notification_id() == before, f"{kind} by {variant} wrote events"
                continue
            assert response.status_code not in (401, 403), (kind, response.text)
            if response.status_code == 202:  # a job: the right sender's own, visible to it
                job = wait_job(http, response.headers["location"], headers)
                assert job["state"] == "succeeded", (kind, job)
            elif response.status_code >= 400:
                refused[kind] = response.status_code
                assert ledger.store.max_notification_id() == before, f"{kind} refused but wrote events"
                continue
            else:
                assert response.status_code in (200, 201), (kind, response.text)
            written = actors_after(ledger, before)
            assert written, f"{kind} by the right sender wrote nothing"
            assert set(written) == {f"m-{role_for(kind).value}"}, (kind, set(written))
    return refused


@pytest.mark.slow
def test_every_command_kind_over_http_reaches_a_handler_only_for_the_right_sender(ledger: Ledger) -> None:
    assert run_matrix(ledger, client(ledger), auth_matrix.VARIANTS) == BUSINESS_REFUSALS


@pytest.mark.slow
def test_every_command_kind_through_a_real_server(ledger: Ledger) -> None:
    with served(ledger) as base, httpx.Client(base_url=base, timeout=30) as http:
        assert run_matrix(ledger, http, auth_matrix.VARIANTS) == BUSINESS_REFUSALS
