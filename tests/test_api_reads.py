"""The read side of the HTTP API: every report and read answers what the CLI answers for the same store (JSON as
its ``--json``, CSV as its ``--section``, the workbook of its ``--xlsx``), each role reaches exactly the reads
``READ_ROLES`` gives it, a scoped principal sees nothing outside its scope (not even a count), a member is looked
up by NIK only in a body and never shows up in a log, and a reveal is recorded (docs/rules.md#principals)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from api.routes.reports import CSV_TYPE, XLSX_TYPE
from cli.app import app as cli_app
from cli.seed_demo import synthetic_nik
from commands.authorise import COMMAND_ROLES, READ_ROLES
from commands.messages import (
    BillAgreement,
    EnrolMember,
    PayContribution,
    RecordWorkforce,
    SignAgreement,
    SubmitClaim,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.values import ClaimType, FundSource, PayerType, Role
from projections.export import section_csv, section_names
from projections.reports import REPORT_DESCRIPTIONS, build_report
from projections.workbook import write_xlsx
from tests.api_support import bearer, client, role_tokens, served
from tests.conftest import execute, grant

DAY = date(2026, 1, 5)
LATER = datetime(2026, 1, 5, 17, tzinfo=WIB)
"""When the reads are made: the API's clock and the CLI's (``JAMSOS_CLOCK``)."""
SECRET_NAME = "Nama Sangat Rahasia"
MEMBERS_PER_SIDE = 3
PURPOSE = "verifikasi ahli waris klaim"
API = "/api/v1"


@dataclass(frozen=True)
class Side:
    agreement: str
    payer: str
    region: str
    nik_region: str

    def nik(self, i: int) -> str:
        return synthetic_nik(self.nik_region, 700 + i)

    @property
    def claim(self) -> str:
        return f"C-{self.agreement}"


PNK = Side("PNK-A", "PEMKOT-PNK", "61.71", "6171")
"""Pontianak."""
SKW = Side("SKW-A", "PEMKOT-SKW", "61.72", "6172")
"""Singkawang."""
WORKFORCE = {"61.71": 352_000, "61.72": 118_000}


def build_world(ledger: Ledger, sides: tuple[Side, ...]) -> None:
    """Each side: an agreement, members, a payment, an invoice and a claim; both regions' workforce (a region's
    statistic, recorded whichever agreements exist)."""
    for region, workers in WORKFORCE.items():
        execute(ledger, RecordWorkforce(region_code=region, workforce=workers, source="BPS", effective_on=DAY))
    for side in sides:
        signed = execute(ledger, SignAgreement(
            agreement_id=side.agreement, name=f"Skema {side.agreement}", payer_id=side.payer,
            payer_type=PayerType.APBD_KOTA, fund_source=FundSource.APBD, region_code=side.region,
            first_period="2026-01", last_period="2026-12", budget_rp=100_000_000, effective_on=DAY))
        for i in range(MEMBERS_PER_SIDE):
            execute(ledger, EnrolMember(nik=side.nik(i), name=SECRET_NAME, agreement_id=side.agreement,
                                        region_code=side.region, role="PETANI", effective_on=DAY))
        execute(ledger, PayContribution(nik=side.nik(0), periods=["2026-01"],
                                        amount_rp=signed["rate_per_member_month_rp"],
                                        payment_reference=f"SP2D-{side.agreement}", effective_on=DAY))
        execute(ledger, BillAgreement(agreement_id=side.agreement, period="2026-01", effective_on=DAY))
        execute(ledger, SubmitClaim(nik=side.nik(0), claim_id=side.claim, claim_type=ClaimType.JKK_MEDICAL,
                                    event_date=DAY, medical_cost_rp=100_000, effective_on=DAY))
    ledger.clock.set(LATER)  # type: ignore[attr-defined]


def open_world(path: Path, sides: tuple[Side, ...]) -> Ledger:
    ledger = bootstrap(f"sqlite:///{path}", clock=SimulatedClock(datetime(2026, 1, 5, 8, tzinfo=WIB)))
    build_world(ledger, sides)
    return ledger


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ledger, str]]:
    """Both sides in one SQLite store (its URL too, for the CLI); one key file, so that a second store built with
    it gives every member the same pseudonymous id."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = open_world(tmp_path / "world.db", (PNK, SKW))
    yield ledger, f"sqlite:///{tmp_path / 'world.db'}"
    ledger.close()


def report_params(name: str) -> dict[str, str]:
    return {"agreement": PNK.agreement} if name == "reconciliation" else {}


def without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


# --- what the CLI answers -----------------------------------------------------------------------------------


def cli_json(store: str, token: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("JAMSOS_CLOCK", LATER.isoformat())
    always_json = args[:2] == ("audit", "prove")  # it prints JSON without --json (and has no such option)
    result = CliRunner().invoke(cli_app, ["--token", token, *args, "--store", store,
                                          *([] if always_json else ["--json"])])
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def test_every_read_answers_the_cli_s_json(world: tuple[Ledger, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, store = world
    admin = grant(ledger, "http-admin", Role.ADMIN)
    api = client(ledger)
    proof_position = "3"
    reads: list[tuple[str, str, dict[str, Any], list[str]]] = [
        *(("GET", f"/reports/{name}", report_params(name),
           ["report", name, *(["--agreement", PNK.agreement] if name == "reconciliation" else [])])
          for name in REPORT_DESCRIPTIONS),
        ("GET", "/reports/balances", {"agreement": PNK.agreement, "on": DAY.isoformat()},
         ["report", "balances", "--agreement", PNK.agreement, "--on", DAY.isoformat()]),
        ("GET", f"/agreements/{PNK.agreement}", {}, ["agreement", "show", PNK.agreement]),
        ("POST", "/members/lookup", {"nik": PNK.nik(0)}, ["member", "show", PNK.nik(0)]),
        ("GET", "/principals", {}, ["principal", "list"]),
        ("GET", "/check", {"max_age_days": "0"}, ["check", "--max-age-days", "0"]),
        ("GET", "/audit/verify", {}, ["audit", "verify"]),
        ("GET", "/audit/seal", {}, ["audit", "seal"]),
        ("GET", "/audit/proof", {"position": proof_position}, ["audit", "prove", "--position", proof_position]),
        ("GET", "/audit/trail", {"claim": PNK.claim}, ["audit", "trail", "--claim", PNK.claim]),
        ("GET", "/audit/trail", {"agreement": PNK.agreement}, ["audit", "trail", "--agreement", PNK.agreement]),
        ("POST", "/audit/trail", {"member": PNK.nik(0)}, ["audit", "trail", "--member", PNK.nik(0)]),
        ("GET", "/projections", {}, ["project", "status"]),
    ]
    for method, path, params, args in reads:
        if method == "GET":
            response = api.get(API + path, params=params, headers=bearer(admin))
        else:
            response = api.post(API + path, json=params, headers=bearer(admin))
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == "application/json"
        ours, theirs = response.json(), cli_json(store, admin, *args, monkeypatch=monkeypatch)
        assert ours and without(ours, "generated_at") == without(theirs, "generated_at"), path
        if path.startswith("/reports/"):
            assert ours["generated_at"] != theirs["generated_at"]  # each was built when asked: not a copy


def test_csv_is_each_section_of_the_report(world: tuple[Ledger, str]) -> None:
    ledger, _ = world
    admin = grant(ledger, "http-admin", Role.ADMIN)
    api = client(ledger)
    for name in REPORT_DESCRIPTIONS:
        params = report_params(name)
        expected = build_report(ledger.store, name, None, None, ledger.clock.now(), params.get("agreement"))
        sections = section_names(expected)
        assert sections[-1] == "totals" and len(sections) > 1
        for section in [None, *sections]:
            response = api.get(f"{API}/reports/{name}", params={**params, **({"section": section} if section else {})},
                               headers=bearer(admin, accept=CSV_TYPE))
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            chosen = section or "totals"
            assert f'filename="{name}.{chosen}.csv"' in response.headers["content-disposition"]
            ours, theirs = (list(csv.DictReader(io.StringIO(t))) for t in (response.text,
                                                                          section_csv(expected, chosen)))
            if chosen == "totals":  # the one row names when it was built
                assert ours[0]["generated_at"] > theirs[0]["generated_at"]
                ours, theirs = [without(r, "generated_at") for r in ours], [without(r, "generated_at") for r in theirs]
            else:
                assert response.text == section_csv(expected, chosen)
            assert ours == theirs


def cells(book: Workbook) -> dict[str, list[list[Any]]]:
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


def test_xlsx_is_the_cli_s_workbook(world: tuple[Ledger, str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, store = world
    admin = grant(ledger, "http-admin", Role.ADMIN)
    api = client(ledger)
    monkeypatch.setenv("JAMSOS_CLOCK", LATER.isoformat())
    for name in ("balances", "reconciliation", "audit"):
        params = report_params(name)
        response = api.get(f"{API}/reports/{name}", params=params, headers=bearer(admin, accept=XLSX_TYPE))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == XLSX_TYPE
        assert f'filename="{name}-{DAY.isoformat()}.xlsx"' in response.headers["content-disposition"]
        ours = load_workbook(io.BytesIO(response.content))
        target = tmp_path / f"{name}.xlsx"
        args = ["--token", admin, "report", name, "--store", store, "--xlsx", str(target),
                *(["--agreement", PNK.agreement] if params else [])]
        assert CliRunner().invoke(cli_app, args).exit_code == 0
        theirs = load_workbook(target)
        report = build_report(ledger.store, name, None, None, ledger.clock.now(), params.get("agreement"))
        assert ours.sheetnames == ["totals", *report["sections"]]
        assert cells(ours) == cells(theirs)  # titles name the build time to the second: the same second here
        reference = tmp_path / f"{name}.direct.xlsx"
        write_xlsx(report, reference)
        assert cells(load_workbook(reference))["totals"] == cells(ours)["totals"]


def test_representations_and_refusals(world: tuple[Ledger, str]) -> None:
    ledger, _ = world
    admin = bearer(grant(ledger, "http-admin", Role.ADMIN))
    api = client(ledger)

    def problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert body["field"] == field, body
        return body

    members = f"{API}/reports/members"
    assert api.get(members, headers={**admin, "accept": "*/*"}).headers["content-type"] == "application/json"
    assert api.get(members, headers={**admin, "accept": "text/*"}).headers["content-type"].startswith(CSV_TYPE)
    assert api.get(members, headers={**admin, "accept": f"application/json;q=0.5, {XLSX_TYPE}"}
                   ).headers["content-type"] == XLSX_TYPE
    for accept in ("text/html", "application/xml", f"{CSV_TYPE};q=0"):
        problem(api.get(members, headers={**admin, "accept": accept}), 406, "accept")
    problem(api.get(f"{API}/principals", headers={**admin, "accept": CSV_TYPE}), 406, "accept")
    unknown = problem(api.get(members, params={"section": "nope"}, headers={**admin, "accept": CSV_TYPE}),
                      422, "section")
    assert all(s in unknown["reason"] for s in ("by_agreement", "totals"))
    problem(api.get(members, params={"section": "totals"}, headers=admin), 422, "section")
    missing = problem(api.get(f"{API}/reports/nope", headers=admin), 404, "name")
    assert all(name in missing["reason"] for name in REPORT_DESCRIPTIONS)
    problem(api.get(members, params={"on": "2026-13-01"}, headers=admin), 422, "on")
    problem(api.get(members, params={"on": (LATER.date() + timedelta(days=2)).isoformat()}, headers=admin), 422, "on")
    problem(api.get(members, params={"as_of": "yesterday"}, headers=admin), 422, "as_of")
    problem(api.get(members, params={"as_of": (LATER + timedelta(days=1)).isoformat()}, headers=admin), 422, "as_of")
    problem(api.get(f"{API}/agreements/{PNK.agreement}", params={"on": "2026-13-01"}, headers=admin), 422, "on")
    problem(api.get(f"{API}/check", params={"max_age_days": "-1"}, headers=admin), 422, "max_age_days")
    problem(api.get(f"{API}/reports/reconciliation", headers=admin), 422, "agreement")
    problem(api.get(f"{API}/reports/members", params={"agreement": "NOPE"}, headers=admin), 404, "agreement_id")
    problem(api.post(f"{API}/members/lookup", json={"nik": "123"}, headers=admin), 422, "nik")
    problem(api.post(f"{API}/members/lookup", json={"nik": PNK.nik(0), "purpose": PURPOSE}, headers=admin),
            422, "purpose")
    problem(api.post(f"{API}/members/lookup", json={"nik": PNK.nik(0), "extra": 1}, headers=admin), 422, "extra")
    problem(api.get(f"{API}/audit/trail", headers=admin), 422, "claim")
    problem(api.get(f"{API}/audit/trail", params={"claim": PNK.claim, "agreement": PNK.agreement}, headers=admin),
            422, "claim")
    problem(api.post(f"{API}/audit/trail", json={}, headers=admin), 422, "member")
    problem(api.get(f"{API}/audit/proof", params={"position": "0"}, headers=admin), 422, "position")
    problem(api.get(f"{API}/audit/proof", params={"position": "999999"}, headers=admin), 404, "position")
    problem(api.get(f"{API}/audit/proof", params={"position": str(2**64)}, headers=admin), 422, "position")
    proof = api.get(f"{API}/audit/proof", params={"position": "3"}, headers=admin).json()
    assert api.post(f"{API}/audit/proof-check", json={"proof": proof}, headers=admin).json()["ok"]
    problem(api.post(f"{API}/audit/proof-check", json={"proof": {**proof, "leaf": "00" * 32}}, headers=admin),
            409, "proof")
    problem(api.post(f"{API}/audit/proof-check", json={"proof": {"event": 1}}, headers=admin), 409, "proof")
    for state in ("not base64!", "é"):
        problem(api.post(f"{API}/audit/proof-check", json={"proof": proof, "state_b64": state}, headers=admin),
                422, "state_b64")
    # a query parameter a route does not take is refused, naming it: a misspelt filter never widens a read
    for path in ("/reports/members", "/reports/access", f"/agreements/{PNK.agreement}", "/principals",
                 "/projections", "/check", "/audit/verify", "/audit/seal", "/audit/trail"):
        problem(api.get(API + path, params={"agreemnt": PNK.agreement}, headers=admin), 422, "agreemnt")
    problem(api.get(f"{API}/audit/trail", params={"member": PNK.nik(0)}, headers=admin), 422, "member")
    problem(api.post(f"{API}/members/lookup", params={"nik": PNK.nik(0)}, json={"nik": PNK.nik(0)},
                     headers=admin), 422, "nik")
    # a stranger hears only 401, whatever else is wrong with the request
    for response in (api.get(members, params={"agreemnt": "x"}), api.get(members, headers={"accept": "text/html"}),
                     api.get(f"{API}/reports/nope"), api.get(members, params={"on": "2026-13-01"})):
        problem(response, 401, "token")


# --- who may read what --------------------------------------------------------------------------------------


def read_routes(proof: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(read, method, path, params or body) of every read route."""
    return [
        *((f"report.{name}", "GET", f"/reports/{name}", report_params(name)) for name in REPORT_DESCRIPTIONS),
        ("agreement.show", "GET", f"/agreements/{PNK.agreement}", {}),
        ("member.show", "POST", "/members/lookup", {"nik": PNK.nik(0)}),
        ("principal.list", "GET", "/principals", {}),
        ("project", "GET", "/projections", {}),
        ("check", "GET", "/check", {}),
        ("audit", "GET", "/audit/verify", {}),
        ("audit", "GET", "/audit/seal", {}),
        ("audit", "GET", "/audit/proof", {"position": 3}),
        ("audit", "POST", "/audit/proof-check", {"proof": proof}),
        ("audit", "GET", "/audit/trail", {"claim": PNK.claim}),
        ("audit", "POST", "/audit/trail", {"member": PNK.nik(0)}),
    ]


def call(api: TestClient | httpx.Client, method: str, path: str, params: dict[str, Any],
         headers: dict[str, str]) -> httpx.Response:
    if method == "GET":
        return api.get(API + path, params=params, headers=headers)
    return api.post(API + path, json=params, headers=headers)


def test_each_role_reaches_exactly_the_reads_its_roles_allow(world: tuple[Ledger, str]) -> None:
    ledger, _ = world
    tokens = role_tokens(ledger)
    api = client(ledger)
    spec = api.get(f"{API}/openapi.json").json()
    proof = api.get(f"{API}/audit/proof", params={"position": 3}, headers=bearer(tokens[Role.ADMIN])).json()
    for read, method, path, params in read_routes(proof):
        allowed = {Role.ADMIN, *READ_ROLES[read]}
        template = f"{API}/agreements/{{agreement_id}}" if path.startswith("/agreements/") else API + path
        declared = spec["paths"][template][method.lower()]["x-roles"]
        reached = set()
        for role, token in tokens.items():
            response = call(api, method, path, params, bearer(token))
            assert response.status_code in (200, 403), (read, role, response.text)
            if response.status_code == 200:
                reached.add(role)
            else:
                assert response.json()["reason"] == "forbidden"  # which role would do is for the log only
        assert reached == allowed, (path, reached, allowed)
        expected = allowed | ({Role.DATA_PROTECTION_OFFICER} if read == "member.show" else set())
        assert declared == sorted(r.value for r in expected), path
    reveal = {"nik": PNK.nik(0), "reveal": True, "purpose": PURPOSE}
    revealed = {role for role, token in tokens.items()
                if call(api, "POST", "/members/lookup", reveal, bearer(token)).status_code == 200}
    assert revealed == {Role.ADMIN, *COMMAND_ROLES["member.reveal"]}


SCOPES = (f"region:{PNK.region}", f"payer:{PNK.payer}")


@pytest.mark.parametrize("scope", SCOPES)
def test_a_scoped_principal_never_sees_another_scope_not_even_a_count(
        scope: str, world: tuple[Ledger, str], tmp_path: Path) -> None:
    """A Pontianak principal's reports equal the same reports of a ledger where Singkawang never existed."""
    ledger, _ = world
    readers = (Role.AUDITOR, Role.FINANCE, Role.BUDGET_OWNER, Role.OPERATOR, Role.CLAIMS_OFFICER,
               Role.DATA_PROTECTION_OFFICER)
    mine = bearer(grant(ledger, "pnk-everything", *readers, scope=scope))
    alone = open_world(tmp_path / "pontianak-alone.db", (PNK,))
    try:
        alone_admin = bearer(grant(alone, "alone-admin", Role.ADMIN))
        api, alone_api = client(ledger), client(alone)
        theirs = [SKW.agreement, SKW.payer, SKW.claim, *(SKW.nik(i) for i in range(MEMBERS_PER_SIDE))]
        their_ids = [call(client(ledger), "POST", "/members/lookup", {"nik": SKW.nik(i)},
                          bearer(grant(ledger, f"op-all-{i}", Role.OPERATOR))).json()["member_id"]
                     for i in range(MEMBERS_PER_SIDE)]
        for name in REPORT_DESCRIPTIONS:
            path = f"{API}/reports/{name}"
            if name in ("audit", "access", "trial-balance"):  # the whole ledger: scope all only
                assert api.get(path, headers=mine).status_code == 403
                assert api.get(path, params={"agreement": PNK.agreement}, headers=mine).status_code == 403
                continue
            for other in ({}, {"agreement": SKW.agreement}, {"agreement": "NO-SUCH-AGREEMENT"}):
                refused = api.get(path, params=other, headers=mine)
                assert refused.status_code == 403 and refused.json()["reason"] == "forbidden", (name, other)
            seen = api.get(path, params={"agreement": PNK.agreement}, headers=mine)
            assert seen.status_code == 200, seen.text
            body = seen.text + api.get(path, params={"agreement": PNK.agreement, "section": "totals"},
                                       headers={**mine, "accept": CSV_TYPE}).text
            assert not [t for t in [*theirs, *their_ids] if t in body], name
            reference = alone_api.get(path, params={"agreement": PNK.agreement}, headers=alone_admin)
            assert without(seen.json(), "generated_at", "position") == without(
                reference.json(), "generated_at", "position"), name
        assert api.get(f"{API}/agreements/{PNK.agreement}", headers=mine).status_code == 200
        assert api.get(f"{API}/agreements/{SKW.agreement}", headers=mine).status_code == 403
        assert call(api, "POST", "/members/lookup", {"nik": PNK.nik(1)}, mine).status_code == 200
        for nik in (SKW.nik(1), synthetic_nik(PNK.nik_region, 999)):  # theirs, or nobody's: the same answer
            refused = call(api, "POST", "/members/lookup", {"nik": nik}, mine)
            assert refused.status_code == 403 and refused.json()["reason"] == "forbidden"
        for method, path, params in (("GET", "/audit/trail", {"claim": PNK.claim}), ("GET", "/check", {}),
                                     ("GET", "/principals", {}), ("GET", "/projections", {}),
                                     ("POST", "/audit/trail", {"member": PNK.nik(0)})):
            assert call(api, method, path, params, mine).status_code == 403, path
    finally:
        alone.close()


# --- a member: by NIK in a body, pseudonymous unless revealed, never in a log ------------------------------


def test_a_member_lookup_shows_nothing_personal_and_a_reveal_is_recorded(
        world: tuple[Ledger, str], caplog: pytest.LogCaptureFixture) -> None:
    ledger, _ = world
    tokens = role_tokens(ledger)
    api = client(ledger)
    caplog.set_level(logging.DEBUG)
    access = f"{API}/reports/access"

    def reads() -> list[list[Any]]:
        rows: list[list[Any]] = api.get(access, headers=bearer(tokens[Role.AUDITOR])).json()[
            "sections"]["access"]["rows"]
        return rows

    shown = call(api, "POST", "/members/lookup", {"nik": PNK.nik(0), "on": DAY.isoformat()},
                 bearer(tokens[Role.DATA_PROTECTION_OFFICER]))
    assert shown.status_code == 200 and shown.json()["member_id"]
    assert SECRET_NAME not in shown.text and PNK.nik(0) not in shown.text and reads() == []
    for role in (Role.OPERATOR, Role.AUDITOR):  # may show the member, not its personal data: nothing recorded
        refused = call(api, "POST", "/members/lookup", {"nik": PNK.nik(0), "reveal": True, "purpose": PURPOSE},
                       bearer(tokens[role]))
        assert refused.status_code == 403 and SECRET_NAME not in refused.text
    short = call(api, "POST", "/members/lookup", {"nik": PNK.nik(0), "reveal": True, "purpose": "x"},
                 bearer(tokens[Role.DATA_PROTECTION_OFFICER]))
    assert short.status_code == 422 and short.json()["field"] == "purpose"
    assert reads() == []
    revealed = call(api, "POST", "/members/lookup", {"nik": PNK.nik(0), "reveal": True, "purpose": PURPOSE},
                    bearer(tokens[Role.DATA_PROTECTION_OFFICER]))
    assert revealed.status_code == 200 and SECRET_NAME in revealed.text
    [row] = reads()
    columns = api.get(access, headers=bearer(tokens[Role.AUDITOR])).json()["sections"]["access"]["columns"]
    entry = dict(zip(columns, row, strict=True))
    assert (entry["principal"], entry["purpose"], entry["face"], entry["member_id"]) == (
        "http-data-protection-officer", PURPOSE, "http", shown.json()["member_id"])
    call(api, "POST", "/audit/trail", {"member": PNK.nik(0)}, bearer(tokens[Role.AUDITOR]))
    call(api, "POST", "/members/lookup", {"nik": SKW.nik(0)}, bearer(grant(ledger, "op-pnk", Role.OPERATOR,
                                                                          scope=f"region:{PNK.region}")))
    call(api, "GET", "/audit/trail", {"member": PNK.nik(1)}, bearer(tokens[Role.AUDITOR]))
    api.get(f"{API}/reports/{PNK.nik(2)}", headers=bearer(tokens[Role.AUDITOR]))
    niks = (*(PNK.nik(i) for i in range(MEMBERS_PER_SIDE)), SKW.nik(0))
    client_side = [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    assert any(PNK.nik(2) in r.getMessage() for r in client_side)  # the caller logs its URLs; the server must not
    server = [r for r in caplog.records if r not in client_side]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server)
    assert "POST /api/v1/members/lookup 200" in logged and "GET /api/v1/reports/{name} 404" in logged
    assert "GET /api/v1/audit/trail 422" in logged
    assert not [n for n in niks if n in logged] and SECRET_NAME not in logged


def test_no_read_route_puts_personal_data_in_a_path_and_non_json_is_documented(world: tuple[Ledger, str]) -> None:
    ledger, _ = world
    spec = client(ledger).get(f"{API}/openapi.json").json()
    ours = {p: ops for p, ops in spec["paths"].items() if any("x-read" in op for op in ops.values())}
    assert len(ours) == len(REPORT_DESCRIPTIONS) + 10 + 2  # the reads, the audit routes; the event feed
    for path, ops in ours.items():
        assert "nik" not in path and "{name}" not in path
        for op in ops.values():
            assert op["x-roles"] and "admin" in op["x-roles"], path
            assert {"401", "403", "422", "500"} <= set(op["responses"]), path
            params = {p["name"] for p in op.get("parameters", [])}
            assert "nik" not in params and "member" not in params, path
    for name in REPORT_DESCRIPTIONS:
        content = ours[f"{API}/reports/{name}"]["get"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", CSV_TYPE, XLSX_TYPE}
        assert "406" in ours[f"{API}/reports/{name}"]["get"]["responses"]


def test_a_report_through_a_real_server(world: tuple[Ledger, str]) -> None:
    ledger, _ = world
    admin = grant(ledger, "http-admin", Role.ADMIN)
    with served(ledger) as base, httpx.Client(base_url=base, timeout=10) as http:
        seen = http.get(f"{API}/reports/balances", params={"agreement": PNK.agreement}, headers=bearer(admin))
        assert seen.status_code == 200 and seen.headers["content-type"] == "application/json"
        expected = build_report(ledger.store, "balances", None, None, ledger.clock.now(), PNK.agreement)
        assert without(seen.json(), "generated_at") == without(expected, "generated_at")
        sheet = http.get(f"{API}/reports/balances", params={"agreement": PNK.agreement},
                         headers=bearer(admin, accept=XLSX_TYPE))
        assert sheet.status_code == 200 and load_workbook(io.BytesIO(sheet.content)).sheetnames[0] == "totals"
        lookup = http.post(f"{API}/members/lookup", json={"nik": PNK.nik(0)}, headers=bearer(admin))
        assert lookup.status_code == 200 and lookup.json()["member_id"]
        assert http.get(f"{API}/reports/balances", headers=bearer(admin, accept="text/html")).status_code == 406
