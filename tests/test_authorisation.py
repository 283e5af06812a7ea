"""Who may do what: tokens, roles, scopes, four eyes and the access log, on the one authorisation
point every face goes through (docs/rules.md#principals)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from commands.authorise import Actor, authenticate, authorise_read, local_actor
from commands.messages import (
    AmendBudget,
    ApproveClaim,
    ConfirmBudget,
    RevealMember,
    RevokePrincipal,
    RotatePrincipalToken,
    parse_command,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import Forbidden, InvalidInput, RuleViolation, Unauthenticated
from ledger.principal import Scope
from ledger.values import Role
from projections.access import access_log, principals
from projections.chain_audit import verify
from projections.ledger_views import member_view
from services.command_consumer import process
from tests import auth_matrix
from tests.conftest import execute, grant
from tests.tamper import with_state_functions


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'auth.db'}",
                       clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))
    yield ledger
    ledger.close()


def actor(name: str, role: Role, scope: str = "all") -> Actor:
    return Actor(name, frozenset({role}), Scope.parse(scope))


def test_every_command_kind_runs_only_for_the_right_token(ledger: Ledger) -> None:
    matrix = auth_matrix.prepare(ledger)
    tokens = [t for t in matrix.tokens.values() if t]
    for kind in auth_matrix.order(list(matrix.bodies)):
        body = json.dumps(matrix.bodies[kind]).encode()
        for variant in auth_matrix.VARIANTS:
            before = ledger.store.max_notification_id()
            reply, dead = process(ledger, body, headers=matrix.headers(kind, variant))
            auth_matrix.check_reply(reply.model_dump(mode="json"), variant, kind)
            if variant != "right":
                assert ledger.store.max_notification_id() == before, f"{kind} by {variant} wrote events"
                assert dead is not None and dead.error.code == auth_matrix.REFUSED_CODE[variant]
                assert dead.error.reason != dead.error.code, "the dead letter keeps the precise reason"
                auth_matrix.check_dead_letter(dead.model_dump_json(), tokens)
            elif reply.ok:
                written = ledger.store.read_log(before, 1000)
                assert written, kind
                for _position, _id, _version, topic, state in written:
                    assert json.loads(state)["actor"] == f"m-{auth_matrix.role_for(kind).value}", topic


def test_a_bad_body_from_a_stranger_is_only_unauthenticated(ledger: Ledger) -> None:
    reply, dead = process(ledger, b"{not json", headers={})
    assert reply.error is not None and (reply.error.code, reply.error.reason) == ("unauthenticated", "unauthenticated")
    assert dead is not None and dead.error.reason == "no token given"


def test_an_actor_field_is_refused_and_the_event_names_the_principal(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_command("sweep", {"actor": "bpjs-supervisor"})
    assert refused.value.field == "actor" and "authenticated principal" in refused.value.reason
    auth_matrix.prepare(ledger)
    trail = [json.loads(state)["actor"] for *_, state in ledger.store.read_log(0, 1000)]
    assert "bpjs-supervisor" not in trail and local_actor().name in trail


def test_tokens_authenticate_until_rotated_or_revoked(ledger: Ledger) -> None:
    token = grant(ledger, "siti.bpkad", Role.FINANCE, scope="payer:PEMKOT-SKW")
    who = authenticate(ledger, token)
    assert (who.name, who.roles, str(who.scope)) == ("siti.bpkad", frozenset({Role.FINANCE}), "payer:PEMKOT-SKW")
    for bad in (None, "", "jst1.bad", "jst1.c2l0aS5icGthZA.x" + "A" * 43, token + "x"):
        with pytest.raises(Unauthenticated):
            authenticate(ledger, bad)
    execute(ledger, RotatePrincipalToken(name="siti.bpkad", token_sha256="a" * 64), local_actor())
    with pytest.raises(Unauthenticated, match="rotated or wrong"):
        authenticate(ledger, token)
    execute(ledger, RevokePrincipal(name="siti.bpkad", reason="left"), local_actor())
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(ledger, token)
    listed = principals(ledger.store)
    assert [(p["name"], p["scope"], p["token_rotations"], p["revoked_on"] is not None) for p in listed] == [
        ("siti.bpkad", "payer:PEMKOT-SKW", 1, True)]
    assert "token" not in json.dumps(listed, default=str).replace("token_rotations", "").replace("token_expires_on", "")


def test_a_principal_name_is_never_reused_and_only_admin_manages_principals(ledger: Ledger) -> None:
    grant(ledger, "budi", Role.OPERATOR)
    with pytest.raises(RuleViolation, match="never reused"):
        grant(ledger, "budi", Role.OPERATOR)
    with pytest.raises(InvalidInput):
        grant(ledger, "local:root", Role.ADMIN)
    with pytest.raises(Forbidden, match="needs the role admin"):
        execute(ledger, RevokePrincipal(name="budi", reason="x"), actor("op", Role.OPERATOR))


def test_four_eyes_on_a_claim(ledger: Ledger) -> None:
    auth_matrix.prepare(ledger)  # C-M1 was submitted by test-operator
    submitter = actor("test-operator", Role.CLAIMS_OFFICER)  # the same person, now as a claims officer
    with pytest.raises(RuleViolation, match="four eyes") as refused:
        execute(ledger, ApproveClaim(claim_id="C-M1", effective_on=auth_matrix.DAY), submitter)
    assert refused.value.field == "principal" and "docs/rules.md#four-eyes" in refused.value.reason
    approved = execute(ledger, ApproveClaim(claim_id="C-M1", effective_on=auth_matrix.DAY),
                       actor("officer-2", Role.CLAIMS_OFFICER))
    assert approved["status"] == "APPROVED"


def test_four_eyes_on_a_large_budget_amendment(ledger: Ledger) -> None:
    auth_matrix.prepare(ledger)  # PKS-M: Rp100.000.000
    owner, other = actor("owner-1", Role.BUDGET_OWNER), actor("owner-2", Role.BUDGET_OWNER)
    small = execute(ledger, AmendBudget(agreement_id="PKS-M", budget_rp=110_000_000, reason="APBD-P",
                                        effective_on=auth_matrix.DAY), owner)
    assert small["status"] == "AMENDED"  # exactly 10 %: in force at once
    big = execute(ledger, AmendBudget(agreement_id="PKS-M", budget_rp=1, reason="cut", command_id="cut",
                                      effective_on=auth_matrix.DAY), owner)
    assert big["status"] == "AWAITING_CONFIRMATION"
    with pytest.raises(RuleViolation, match="four eyes"):
        execute(ledger, ConfirmBudget(agreement_id="PKS-M", budget_rp=1, effective_on=auth_matrix.DAY), owner)
    with pytest.raises(RuleViolation, match="pending amendment is Rp1"):
        execute(ledger, ConfirmBudget(agreement_id="PKS-M", budget_rp=2, effective_on=auth_matrix.DAY), other)
    execute(ledger, ConfirmBudget(agreement_id="PKS-M", budget_rp=1, effective_on=auth_matrix.DAY), other)
    with pytest.raises(RuleViolation, match="no budget amendment to confirm"):
        execute(ledger, ConfirmBudget(agreement_id="PKS-M", budget_rp=1, effective_on=auth_matrix.DAY), other)


def test_scoped_reads(ledger: Ledger) -> None:
    auth_matrix.prepare(ledger)
    mine, theirs = actor("f-m", Role.FINANCE, "payer:PEMKOT-M"), actor("f-o", Role.FINANCE, "payer:PEMKOT-O")
    authorise_read(ledger, mine, "report.reconciliation", agreement_id="PKS-M")
    for who, read, agreement in ((theirs, "report.reconciliation", "PKS-M"), (mine, "report.balances", None),
                                 (mine, "report.trial-balance", None), (mine, "report.members", "PKS-NONE")):
        with pytest.raises(Forbidden):
            authorise_read(ledger, who, read, agreement_id=agreement)
    with pytest.raises(Forbidden, match="needs the role"):
        authorise_read(ledger, actor("op", Role.OPERATOR), "report.trial-balance")
    region = actor("op-kalbar", Role.OPERATOR, "region:61")
    authorise_read(ledger, region, "member.show", nik=auth_matrix.NIKS[0])
    with pytest.raises(Forbidden):  # an unknown member is outside every scope but all: no hint it is unknown
        authorise_read(ledger, region, "member.show", nik=auth_matrix.NIKS[5])


def test_every_reveal_is_logged_and_its_chain_verifies_until_edited(ledger: Ledger, tmp_path: Path) -> None:
    auth_matrix.prepare(ledger)
    dpo = actor("dpo-1", Role.DATA_PROTECTION_OFFICER)
    with pytest.raises(Forbidden):
        execute(ledger, RevealMember(nik=auth_matrix.NIKS[0], purpose="just curious about"),
                actor("op", Role.OPERATOR))
    with pytest.raises(InvalidInput, match="purpose"):
        execute(ledger, RevealMember(nik=auth_matrix.NIKS[0], purpose="x"), dpo)
    assert access_log(ledger.store) == []
    for n, purpose in enumerate(["verifikasi ahli waris klaim C-M1", "permintaan peserta (hak akses)"]):
        execute(ledger, RevealMember(nik=auth_matrix.NIKS[n], purpose=purpose, command_id=f"reveal-{n}"), dpo)
    shown = member_view(ledger, auth_matrix.NIKS[0], None, None, True)
    assert shown["personal"]["name"] == auth_matrix.SECRET_NAME
    log = access_log(ledger.store)
    assert [(r["principal"], r["purpose"]) for r in log] == [
        ("dpo-1", "verifikasi ahli waris klaim C-M1"), ("dpo-1", "permintaan peserta (hak akses)")]
    assert auth_matrix.SECRET_NAME not in json.dumps(log)
    assert verify(ledger.store)["ok"]
    with with_state_functions(sqlite3.connect(tmp_path / "auth.db")) as conn:
        edited = conn.execute("UPDATE stored_events SET state = edited(state, 'ahli waris', 'ahli wari5') "
                              "WHERE holds(state, 'ahli waris') AND holds(state, '\"face\"')").rowcount
    assert edited == 1
    result = verify(ledger.store)
    assert not result["ok"] and len(result["findings"]) == 1 and "position" in result["findings"][0]


def test_member_view_of_an_unrevealed_member_shows_nothing_personal(ledger: Ledger) -> None:
    auth_matrix.prepare(ledger)
    view = member_view(ledger, auth_matrix.NIKS[0], date(2026, 1, 5), None)
    assert auth_matrix.SECRET_NAME not in json.dumps(view, default=str)
    assert isinstance(view, dict) and not isinstance(view.get("personal"), dict)


def test_a_payer_s_finance_officer_resolves_only_its_own_exceptions(ledger: Ledger) -> None:
    matrix = auth_matrix.prepare(ledger)
    finance = actor("fin-all", Role.FINANCE)
    for kind in ("reconcile.import", "reconcile.run"):
        execute(ledger, parse_command(kind, {k: v for k, v in matrix.bodies[kind].items() if k != "kind"}), finance)
    resolve = parse_command("reconcile.resolve", {k: v for k, v in matrix.bodies["reconcile.resolve"].items()
                                                  if k != "kind"})
    before = ledger.store.max_notification_id()
    with pytest.raises(Forbidden, match="outside its scope"):
        execute(ledger, resolve, actor("fin-other", Role.FINANCE, "payer:PEMKOT-OTHER"))
    assert ledger.store.max_notification_id() == before
    assert execute(ledger, resolve, actor("fin-m", Role.FINANCE, "payer:PEMKOT-M"))
