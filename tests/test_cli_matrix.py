"""The authorisation matrix through the CLI for every command kind (``jamsos --token …``, in process): no token
acts as the local admin, so the five refused senders are a wrong token, a revoked one, an out-of-scope one, the
wrong role — and each is refused with exit 9 or 10, writing nothing — and the right one runs
(docs/rules.md#principals). ``tests/test_cli_authorisation.py`` runs a few of these as real processes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from commands.authorise import COMMAND_ROLES, role_for
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.statement import Statement
from tests import auth_matrix
from tests.api_requests import PASSWORD
from tests.test_money import statement_file

ON = ["--on", auth_matrix.DAY.isoformat()]
STDIN = {"principal.set_password": f"{PASSWORD}\n"}
"""What a kind's command reads from standard input (the password of ``--password-stdin``)."""
N = auth_matrix.NIKS


def cli_args(kind: str, files: Path) -> list[str]:
    """The `jamsos` arguments of the matrix body of ``kind``."""
    every = auth_matrix.bodies()
    b, budget = every["agreement.sign"], str(every["agreement.amend_budget"]["budget_rp"])
    cohort = files / "cohort.csv"
    cohort.write_text(f"nik,name,role\n{N[4]},Pekerja Baru,PETANI\n", encoding="utf-8")
    statement = statement_file(files / "statement.csv", [("SP2D-X", "2026-01-05", "5", "iuran")],
                               period="2026-01-01..2026-01-05")
    args: dict[str, list[str]] = {
        "agreement.sign": ["agreement", "sign", "--id", b["agreement_id"], "--name", b["name"], "--payer-id",
                           b["payer_id"], "--payer-type", b["payer_type"], "--fund-source", b["fund_source"],
                           "--region", b["region_code"], "--first-period", b["first_period"], "--last-period",
                           b["last_period"], "--budget", str(b["budget_rp"])],
        "agreement.amend_budget": ["agreement", "amend-budget", "PKS-M", "--budget", budget,
                                   "--reason", "APBD-P"],
        "agreement.confirm_budget": ["agreement", "confirm-budget", "--agreement", "PKS-M", "--budget",
                                     budget],
        "member.enrol": ["member", "enrol", "--nik", N[3], "--name", "Pekerja", "--agreement", "PKS-M", "--region",
                         "61.72", "--role", "NELAYAN"],
        "member.import": ["member", "import", str(cohort), "--agreement", "PKS-M"],
        "member.change_payer": ["member", "change-payer", N[2], "--from-period", "2026-03"],
        "member.carry_in_jht": ["member", "carry-in-jht", N[1], "--amount", "1000000", "--source", "earlier"],
        "member.reveal": ["member", "show", N[1], "--reveal", "--purpose", "verifikasi ahli waris"],
        "contribution.pay": ["contribution", "pay", "--nik", N[1], "--periods", "2026-01", "--amount", "16800",
                             "--reference", "SP2D-M-1"],
        "contribution.pay_cohort": ["contribution", "pay", "--agreement", "PKS-M", "--periods", "2026-02",
                                    "--amount", str(16_800 * 4), "--reference", "SP2D-M-2"],
        "claim.submit": ["claim", "submit", "--id", "C-M2", "--nik", N[1], "--type", "JKK_MEDICAL", "--event-date",
                         "2026-01-05", "--medical-cost", "50000"],
        "claim.approve": ["claim", "approve", "C-M1"],
        "claim.reject": ["claim", "reject", "C-M2", "--reason-code", "CHECK", "--reason", "documents missing"],
        "claim.pay": ["claim", "pay", "C-M1", "--reference", "PAYOUT-M-1"],
        "region.workforce": ["region", "workforce", "--region", "61.72", "--workers", "100000", "--source", "BPS"],
        "sweep": ["sweep"],
        "billing.bill": ["bill", "--agreement", "PKS-M", "--period", "2026-01"],
        "reconcile.import": ["reconcile", "import", str(statement), "--payer", "PEMKOT-M"],
        "reconcile.run": ["reconcile", "run", "--payer", "PEMKOT-M"],
        "reconcile.resolve": ["reconcile", "resolve", "STATEMENT", "1", "--suspense", "--note", "ask the payer"],
        "refund.settle": ["refund", "settle", "--claim", "C-M1", "--payer", "PEMKOT-M", "--amount", "16800",
                          "--reference", "RF-M-1"],
        "principal.add": ["principal", "add", "new-operator", "--role", "operator"],
        "principal.rotate_token": ["principal", "rotate-token", "m-auditor"],
        "principal.set_password": ["principal", "set-password", "m-auditor", "--password-stdin"],
        "principal.revoke": ["principal", "revoke", "w-operator", "--reason", "moved"],
        "member.forget": ["member", "forget", N[2]],
    }
    assert set(args) == set(COMMAND_ROLES)
    return [*args[kind], *([] if kind.startswith("principal.") else ON)]


@pytest.mark.slow
def test_every_command_kind_through_the_cli_runs_only_for_the_right_token(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "cli.key"))
    monkeypatch.setenv("JAMSOS_STORE", store)
    monkeypatch.setenv("JAMSOS_CLOCK", "2026-01-05T09:00:00+07:00")
    monkeypatch.delenv("JAMSOS_TOKEN", raising=False)
    ledger = bootstrap(store, clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))
    matrix = auth_matrix.prepare(ledger)
    runner = CliRunner()
    failed: dict[str, str] = {}
    for kind in auth_matrix.order(list(matrix.bodies)):
        args = cli_args(kind, tmp_path)
        if kind == "reconcile.resolve":
            statement = next(r.aggregate_id for r in ledger.store.snapshots_of_kind("Statement"))
            args[2] = ledger.store.load(Statement, statement).state.statement_id
        for variant in auth_matrix.VARIANTS[1:]:
            token = matrix.tokens[(role_for(kind), variant)]
            assert token is not None
            before = ledger.store.max_notification_id()
            result = runner.invoke(app, ["--token", token, *args, "--json"], input=STDIN.get(kind))
            if variant == "right":
                assert result.exit_code not in (9, 10), (kind, result.output)
                if result.exit_code:
                    failed[kind] = result.output.strip()
                if result.exit_code == 0:
                    assert json.loads(result.stdout)
            else:
                expected = 9 if auth_matrix.REFUSED_CODE[variant] == "unauthenticated" else 10
                assert result.exit_code == expected, (kind, variant, result.output)
                assert ledger.store.max_notification_id() == before, f"{kind} by {variant} wrote events"
    ledger.close()
    # these reach their handler and are refused by a business rule (nothing pending to confirm: a 1 % amendment is in
    # force at once; the line was not an exception; a JKK claim owes no refund) — they ran, as the right sender's
    assert set(failed) == {"agreement.confirm_budget", "reconcile.resolve", "refund.settle"}, failed
