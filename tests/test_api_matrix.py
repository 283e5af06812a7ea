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

from cli.seed_demo import synthetic_nik
from commands.authorise import COMMAND_ROLES, READ_ROLES, role_for
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.statement import Statement
from ledger.values import Role
from projections.reports import REPORT_DESCRIPTIONS
from tests import auth_matrix
from tests.api_requests import HttpRequest, request_for
from tests.api_support import bearer, client, role_tokens, served
from tests.conftest import execute, grant

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


def body_for(ledger: Ledger, bodies: dict[str, dict[str, Any]], kind: str,
             payer: str = "PEMKOT-M") -> dict[str, Any]:
    """The matrix body of ``kind``; a resolution names the statement the upload recorded for ``payer`` (its id is
    the file's)."""
    body = dict(bodies[kind])
    if kind == "reconcile.resolve":
        states = [ledger.store.load(Statement, row.aggregate_id).state
                  for row in ledger.store.snapshots_of_kind("Statement")]
        [body["statement_id"]] = [s.statement_id for s in states if s.payer_id == payer]
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


# --- each role exactly its routes ---------------------------------------------------------------------------

JOB_KINDS = ("member.import", "contribution.pay_cohort", "reconcile.import")
"""The kinds whose route may answer with a job (202)."""


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every route of the document that declares roles."""
    from api.openapi import document

    return [(method.upper(), path, op) for path, item in document()["paths"].items() for method, op in item.items()
            if op.get("x-roles")]


def table_roles(op: dict[str, Any]) -> set[str]:
    """What the authorisation tables let call ``op``: its read's roles or its kind's, and ``admin``; the job
    resource: those who start jobs, and the auditor (``api/jobs.py``)."""
    roles = {Role.ADMIN}
    if "x-read" in op:
        roles |= READ_ROLES[op["x-read"]]
    if "x-command-kind" in op:
        roles |= COMMAND_ROLES[op["x-command-kind"]]
    if op["operationId"] == "contribution_quote":
        roles |= READ_ROLES["contribution.quote"]
    if op["operationId"] == "job_show":
        roles |= {Role.AUDITOR}.union(*(COMMAND_ROLES[k] for k in JOB_KINDS))
    assert {"x-read", "x-command-kind"} & set(op) or op["operationId"] in ("contribution_quote", "job_show"), op
    return {r.value for r in roles}


def read_requests(admin: str, http: TestClient) -> dict[str, HttpRequest]:
    """A well-formed request of every read operation (by operation id), on the matrix ledger."""
    proof = http.get(f"{API}/audit/proof", params={"position": 3}, headers=bearer(admin)).json()
    agreement, nik, claim = "PKS-M", auth_matrix.NIKS[0], "C-M1"
    return {
        **{f"report_{name.replace('-', '_')}": HttpRequest(
            "GET", f"{API}/reports/{name}?agreement={agreement}" if name == "reconciliation"
            else f"{API}/reports/{name}") for name in REPORT_DESCRIPTIONS},
        "agreement_show": HttpRequest("GET", f"{API}/agreements/{agreement}"),
        "member_show": HttpRequest("POST", f"{API}/members/lookup", json={"nik": nik}),
        "principal_list": HttpRequest("GET", f"{API}/principals"),
        "project_status": HttpRequest("GET", f"{API}/projections"),
        "check": HttpRequest("GET", f"{API}/check"),
        "audit_verify": HttpRequest("GET", f"{API}/audit/verify"),
        "audit_seal": HttpRequest("GET", f"{API}/audit/seal"),
        "audit_prove": HttpRequest("GET", f"{API}/audit/proof?position=3"),
        "audit_check_proof": HttpRequest("POST", f"{API}/audit/proof-check", json={"proof": proof}),
        "audit_trail": HttpRequest("GET", f"{API}/audit/trail?claim={claim}"),
        "audit_trail_by_body": HttpRequest("POST", f"{API}/audit/trail", json={"member": nik}),
        "contribution_quote": HttpRequest("POST", f"{API}/contributions/quotes",
                                          json={"agreement_id": agreement, "periods": ["2026-02"]}),
        "job_show": HttpRequest("GET", f"{API}/jobs/no-such-job"),
        "events_api_v1_events_get": HttpRequest("GET", f"{API}/events?after=0&limit=5"),
    }


def every_request(ledger: Ledger, matrix: auth_matrix.Matrix, admin: str,
                  http: TestClient) -> list[tuple[dict[str, Any], HttpRequest]]:
    """Every operation that declares roles with a well-formed request of it: reads first, then the commands in
    an order where each meets the state it needs."""
    reads = read_requests(admin, http)
    # the event stream never ends by itself: its roles are probed in tests/test_api_events.py
    ops = {op["operationId"]: op for *_, op in operations() if not op.get("x-stream")}
    by_kind = {op["x-command-kind"]: op for op in ops.values() if "x-command-kind" in op}
    out = [(op, reads[op_id]) for op_id, op in ops.items() if op_id in reads]
    commands = [k for k in auth_matrix.order(list(matrix.bodies)) if ops["member_show"] is not by_kind[k]]
    out += [(by_kind[k], request_for(k, matrix.bodies[k])) for k in commands]
    covered = {op["operationId"] for op, _ in out}
    assert covered == set(ops), set(ops) ^ covered
    return out


def test_x_roles_is_the_authorisation_table() -> None:
    for method, path, op in operations():
        assert sorted(op["x-roles"]) == sorted(table_roles(op)), (method, path)


@pytest.mark.slow
def test_each_role_reaches_exactly_the_routes_x_roles_names(ledger: Ledger) -> None:
    """A principal of each role (scope all) is refused 403 ``forbidden`` by every route whose ``x-roles`` lacks
    its role, writing nothing, and by none whose ``x-roles`` names it."""
    matrix = auth_matrix.prepare(ledger)
    tokens = role_tokens(ledger, prefix="rr")
    http = client(ledger)
    reached: dict[str, set[str]] = {}
    for op, request in every_request(ledger, matrix, tokens[Role.ADMIN], http):
        name = op["operationId"]
        for role in sorted(Role, key=lambda r: r is not Role.ADMIN):  # admin first: the others may replay it
            before = ledger.store.max_notification_id()
            response = request.send(http, bearer(tokens[role]))
            if response.status_code == 202:
                wait_job(http, response.headers["location"], bearer(tokens[role]))
            if role.value in op["x-roles"]:
                assert response.status_code not in (401, 403), (name, role, response.text)
                reached.setdefault(name, set()).add(role.value)
            else:
                check_refusal(response, "forbidden", name, role.value)
                assert ledger.store.max_notification_id() == before, (name, role)
    assert {n: sorted(r) for n, r in reached.items()} == {op["operationId"]: sorted(op["x-roles"])
                                                          for *_, op in operations() if not op.get("x-stream")}


def garbled(request: HttpRequest) -> list[HttpRequest]:
    """``request`` with input the route refuses (422 to a principal it serves): an unknown query parameter, and
    an unknown body field, a body that is not JSON, or a multipart body without its file."""
    path = request.path + ("&" if "?" in request.path else "?") + "no_such_parameter=1"
    if request.files is not None:
        return [HttpRequest(request.method, path, request.headers, data={"no_such_field": "1"},
                            files={"not_the_file": ("x.csv", b"", "text/csv")})]
    if request.method == "GET":
        return [HttpRequest(request.method, path, request.headers)]
    return [HttpRequest(request.method, path, request.headers, json={"no_such_field": 1}),
            HttpRequest(request.method, request.path, {**request.headers, "content-type": "application/json"},
                        content=b"{not json")]


def test_a_role_outside_x_roles_hears_403_whatever_its_input(ledger: Ledger) -> None:
    """A principal the route does not serve is refused before its input is read: it learns nothing about which
    input the route takes (as a stranger hears 401 whatever its input)."""
    matrix = auth_matrix.prepare(ledger)
    tokens = role_tokens(ledger, prefix="rr")
    http = client(ledger)
    before = ledger.store.max_notification_id()
    for op, request in every_request(ledger, matrix, tokens[Role.ADMIN], http):
        for bad in garbled(request):
            assert bad.send(http, bearer(tokens[Role.ADMIN])).status_code == 422, (op["operationId"], bad)
            for role in Role:
                if role.value not in op["x-roles"]:
                    check_refusal(bad.send(http, bearer(tokens[role])), "forbidden", op["operationId"], role.value)
            check_refusal(bad.send(http), "unauthenticated", op["operationId"], "no-token")
    assert ledger.store.max_notification_id() == before


# --- each scope exactly its subjects ------------------------------------------------------------------------

PONTIANAK = {"PKS-M": "PKS-P", "PEMKOT-M": "PEMKOT-P", "61.72": "61.71", "C-M": "C-P", "SP2D-M": "SP2D-P",
             "SP2D-X": "SP2D-PX", "PAYOUT-M": "PAYOUT-P", "RF-M": "RF-P", "matrix-": "pontianak-",
             **{nik: synthetic_nik("6171", 900 + i) for i, nik in enumerate(auth_matrix.NIKS)}}
"""The matrix's Singkawang agreement, payer, region, members, claims and references → their Pontianak twins."""
SKW_PAYER, PNK_PAYER = "PEMKOT-M", "PEMKOT-P"
SCOPES = ("region:61.71", f"payer:{PNK_PAYER}")
NATIONAL_KINDS = {"sweep", "principal.add", "principal.rotate_token", "principal.set_password", "principal.revoke"}
"""Kinds about no payer or region: only the ``all`` scope runs them (docs/rules.md#principals)."""
REGION_ONLY_KINDS = {"region.workforce"}
"""A region's statistic: no payer's, so a payer scope does not reach it."""
PAYER_ONLY_KINDS = {"reconcile.resolve"}
"""Resolving an exception concerns the payer of its statement and no region (``commands/subject.py``
``_exception``: the day is national), so a region scope does not reach it — though it imports the payer's
statements and runs its reconciliation (those concern the payer and the regions of its agreements)."""


def unreached(scope: str) -> set[str]:
    """The kinds a principal of ``scope`` may not run even on its own subjects."""
    return NATIONAL_KINDS | (REGION_ONLY_KINDS if scope.startswith("payer:") else PAYER_ONLY_KINDS)


def pontianak(value: Any) -> Any:
    """``value`` (a body, a command) with every Singkawang name of the matrix replaced by its Pontianak twin."""
    text = json.dumps(value)
    for singkawang, twin in PONTIANAK.items():
        text = text.replace(singkawang, twin)
    return json.loads(text)


def add_pontianak(ledger: Ledger) -> None:
    """The matrix's world again in Pontianak (61.71, payer PEMKOT-P): an agreement, members, a payment, a claim."""
    from commands.messages import parse_command

    day = auth_matrix.DAY.isoformat()
    agreement = {"agreement_id": "PKS-M", "name": "Matrix", "payer_id": "PEMKOT-M", "payer_type": "APBD_KOTA",
                 "fund_source": "APBD", "region_code": "61.72", "first_period": "2026-01",
                 "last_period": "2026-12", "budget_rp": 100_000_000, "effective_on": day}
    setup = [("agreement.sign", agreement),
             *(("member.enrol", {"nik": nik, "name": auth_matrix.SECRET_NAME, "agreement_id": "PKS-M",
                                 "region_code": "61.72", "role": "PETANI", "effective_on": day})
               for nik in auth_matrix.NIKS[:3]),
             ("contribution.pay", {"nik": auth_matrix.NIKS[0], "periods": ["2026-01"], "amount_rp": 16_800,
                                   "payment_reference": "SP2D-M-0", "effective_on": day}),
             ("claim.submit", {"nik": auth_matrix.NIKS[0], "claim_id": "C-M1", "claim_type": "JKK_MEDICAL",
                               "event_date": day, "medical_cost_rp": 100_000, "effective_on": day})]
    for kind, fields in setup:
        execute(ledger, parse_command(kind, pontianak(fields)))


@pytest.mark.slow
@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_runs_exactly_the_commands_of_its_subjects(scope: str, ledger: Ledger) -> None:
    """For every kind: a Pontianak principal of the right role is refused the Singkawang body (403, nothing
    written), the ``all`` principal runs it, and the Pontianak principal runs the Pontianak twin with the same
    outcome, the events naming it — except the kinds its scope cannot reach even on its own side
    (:func:`unreached`)."""
    matrix = auth_matrix.prepare(ledger)
    add_pontianak(ledger)
    scoped = {role: grant(ledger, f"p-{role.value}", role, scope=scope) for role in Role}
    http = client(ledger)
    outcomes: dict[str, tuple[int, int]] = {}
    for kind in auth_matrix.order(list(matrix.bodies)):
        role = role_for(kind)
        mine = bearer(scoped[role])
        theirs = request_for(kind, body_for(ledger, matrix.bodies, kind, SKW_PAYER))
        before = ledger.store.max_notification_id()
        check_refusal(theirs.send(http, mine), "forbidden", kind, scope)
        assert ledger.store.max_notification_id() == before, f"{kind}: an out-of-scope refusal wrote events"
        everyone = theirs.send(http, matrix.headers(kind, "right"))
        if everyone.status_code == 202:
            wait_job(http, everyone.headers["location"], matrix.headers(kind, "right"))
        twin = request_for(kind, body_for(ledger, {kind: pontianak(matrix.bodies[kind])}, kind, PNK_PAYER))
        before = ledger.store.max_notification_id()
        own = twin.send(http, mine)
        if kind in unreached(scope):
            check_refusal(own, "forbidden", kind, scope)
            assert ledger.store.max_notification_id() == before
            continue
        if own.status_code == 202:
            job = wait_job(http, own.headers["location"], mine)
            assert job["state"] == "succeeded", (kind, job)
        outcomes[kind] = (everyone.status_code, own.status_code)
        if own.status_code < 300:
            assert set(actors_after(ledger, before)) == {f"p-{role.value}"}, kind
        else:
            assert ledger.store.max_notification_id() == before, kind
    assert {k: o for k, o in outcomes.items() if o[0] != o[1]} == {}
    assert set(outcomes) == set(auth_matrix.bodies()) - unreached(scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_a_scoped_principal_quotes_and_sees_jobs_only_of_its_scope(scope: str, ledger: Ledger,
                                                                    tmp_path: Path) -> None:
    """The reads ``tests/test_api_reads.py`` does not cover: a cohort quote (equal to the quote of a ledger where
    Singkawang never existed; another scope's agreement, or an unknown one, is 403 alike), and jobs (a scoped
    auditor sees none but its own, as any principal: only an ``all`` auditor or admin sees another's)."""
    matrix = auth_matrix.prepare(ledger)
    add_pontianak(ledger)
    operator, auditor = (bearer(grant(ledger, f"p-{r.value}", r, scope=scope)) for r in (Role.OPERATOR,
                                                                                          Role.AUDITOR))
    http = client(ledger)
    quote = f"{API}/contributions/quotes"
    periods = {"periods": ["2026-02"], "effective_on": auth_matrix.DAY.isoformat()}
    for agreement in ("PKS-M", "NO-SUCH-AGREEMENT"):
        check_refusal(http.post(quote, json={"agreement_id": agreement, **periods}, headers=operator), "forbidden",
                      "quote", agreement)
    seen = http.post(quote, json={"agreement_id": "PKS-P", **periods}, headers=operator)
    assert seen.status_code == 200, seen.text
    alone = open_ledger(tmp_path / "pontianak-alone.db")
    try:
        add_pontianak(alone)
        reference = client(alone).post(quote, json={"agreement_id": "PKS-P", **periods},
                                       headers=bearer(grant(alone, "alone-admin", Role.ADMIN)))
        assert seen.json() == reference.json() and seen.json()["members_payable"] > 0
    finally:
        alone.close()
    everyone = matrix.headers("contribution.pay_cohort", "right")
    their_quote = http.post(quote, json={"agreement_id": "PKS-M", **periods}, headers=everyone).json()
    pay = {**matrix.bodies["contribution.pay_cohort"], "amount_rp": their_quote["amount_rp"]}
    theirs = request_for("contribution.pay_cohort", pay).send(http, everyone)
    mine = request_for("contribution.pay_cohort", {**pontianak(pay), "amount_rp": seen.json()["amount_rp"]}
                       ).send(http, operator)
    assert (theirs.status_code, mine.status_code) == (202, 202), (theirs.text, mine.text)
    wait_job(http, mine.headers["location"], operator)
    everything = bearer(grant(ledger, "all-auditor", Role.AUDITOR))
    for location, owner in ((theirs.headers["location"], everyone), (mine.headers["location"], operator)):
        assert wait_job(http, location, owner)["state"] == "succeeded"
        assert http.get(location, headers=everything).status_code == 200
        hidden = http.get(location, headers=auditor)
        assert hidden.status_code == 404 and hidden.json()["field"] == "job_id", hidden.text
    assert http.get(theirs.headers["location"], headers=operator).status_code == 404
