"""End-to-end tests of the ``jamsos`` command line: ``cli.app.main`` run with the arguments, environment and
working directory a shell would give it, in this process (a subprocess per command cost ~0.8 s of imports each:
most of the suite's CLI time); ``Cli(..., subprocess=True)`` and the console-script tests run the real process.

Every bad input asserts three things: the exit code (2 malformed, 3 refused by a rule, 4 unknown,
5 command id reused with another payload), the one ``error: <field>: <reason>`` line on stderr, and that
no event was written (the store's event count before and after).

To stay fast, one store is prepared once per session through the CLI (``template``) and copied into each
test's own directory (``cli``), so a test pays only for the commands it is about.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cli.seed_demo import synthetic_nik
from eventstore.store import open_store

REPO = Path(__file__).resolve().parents[1]
AGREEMENT = "SKW-CLI-2025"  # Pemkot Singkawang, window 2025-01..2025-06
OTHER_AGREEMENT = "BKY-CLI-2025"  # Pemkab Bengkayang, window 2025-01..2025-12
RATE = 16_800


def nik(i: int) -> str:
    return synthetic_nik("6172", i)


PAID = nik(1)  # enrolled 2025-01-06 under AGREEMENT, 2025-01 paid with SP2D-CLI-0001
UNPAID = nik(2)  # enrolled 2025-01-06 under AGREEMENT, nothing paid
LATE = nik(3)  # enrolled 2025-03-10 under OTHER_AGREEMENT (first period 2025-03), nothing paid
STRANGER = nik(99)  # never enrolled
PAID_NAME = "Budi Santoso"


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"jamsos {' '.join(self.args)} -> exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"


class Cli:
    """The CLI bound to one store in one directory: each call sees only the environment below (``JAMSOS_*`` of the
    test run dropped but the clock) and runs in ``root``, in this process unless ``subprocess``."""

    def __init__(self, root: Path, *, subprocess: bool = False) -> None:
        self.root = root
        self.subprocess = subprocess
        self.url = f"sqlite:///{root / 'ledger.db'}"
        # the ledger's clock stays frozen if the suite runs frozen (JAMSOS_TEST_AT, see tests/conftest.py)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAMSOS_") or k == "JAMSOS_CLOCK"}
        env.update(
            JAMSOS_STORE=self.url,
            JAMSOS_KEY_FILE=str(root / "ledger.key"),
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
            NO_COLOR="1",
        )
        self.env = env

    def __call__(self, *args: str) -> Run:
        if not self.subprocess:
            return run_in_process(args, self.root, self.env)
        proc = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120,
        )
        return Run(args, proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str) -> Any:
        """Run with --json, require exit 0, return the parsed output."""
        run = self(*args, "--json")
        assert run.code == 0, str(run)
        assert run.err == "", str(run)
        return run.json()

    def grant(self, name: str, role: str, scope: str = "all") -> list[str]:
        """Add principal ``name`` (as the local admin); the ``--token`` arguments to act as it."""
        added = self.ok("principal", "add", name, "--role", role, "--scope", scope)
        assert added["token"].startswith("jst1.") and added["roles"] == [role]
        return ["--token", added["token"]]

    def events(self) -> int:
        store = open_store(self.url)
        try:
            return store.max_notification_id()
        finally:
            store.close()

    def actors_after(self, position: int) -> list[str]:
        """The ``actor`` of every event written after notification ``position``."""
        store = open_store(self.url)
        try:
            return [json.loads(store.mapper.plain_state(n.state))["actor"]
                    for n in store.select_notifications(position + 1, 10_000)]
        finally:
            store.close()

    def topics_after(self, position: int) -> list[str]:
        """Event types written after notification ``position``."""
        store = open_store(self.url)
        try:
            return [n.topic.rsplit(":", 1)[-1] for n in store.select_notifications(position + 1, 10_000)]
        finally:
            store.close()

    def refused(self, code: int, field: str, fragment: str, *args: str) -> Run:
        """Run a command that must be refused: exit ``code``, one error line naming ``field``, nothing written."""
        before = self.events()
        run = self(*args)
        assert run.code == code, str(run)
        assert_error(run, field, fragment)
        assert run.out == "", str(run)
        assert self.events() == before, f"events were written by a refused command\n{run}"
        return run


def run_in_process(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> Run:
    """``jamsos ARGS`` as the console script runs it (``cli.app.main``: its exit code, stdout and stderr), in this
    process, with ``os.environ`` replaced by ``env`` and the working directory ``cwd`` for the call."""
    from typer.testing import CliRunner

    from cli.app import main

    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    runner = CliRunner()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.argv = ["jamsos", *args]
        with runner.isolation() as (out, err, _mixed):
            try:
                main()
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            except Exception:  # what the interpreter prints for an uncaught error, and its exit code
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            return Run(args, code, out.getvalue().decode(), err.getvalue().decode())  # type: ignore[union-attr]
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def assert_error(run: Run, field: str, fragment: str) -> None:
    """One ``error: <field>: <reason>`` line (an import refused for bad rows adds one line per row)."""
    first, *rest = run.err.splitlines() or [""]
    assert re.fullmatch(rf"error: {field}: .+", first), str(run)
    assert fragment.lower() in first.lower(), f"{fragment!r} not in the error line\n{run}"
    if field == "rows":
        assert rest and all(re.match(r"  line \d+: \w+: ", line) for line in rest), str(run)
    else:
        assert rest == [], f"the error must be one line\n{run}"


def sign_args(code: str, payer: str, payer_type: str, first: str, last: str) -> list[str]:
    return [
        "agreement", "sign", "--id", code, "--name", f"Test scheme {code}", "--payer-id", payer,
        "--payer-type", payer_type, "--fund-source", "APBD", "--region", "61.72", "--first-period", first,
        "--last-period", last, "--budget", "100000000", "--on", "2025-01-02",
    ]


def enrol_args(i_nik: str, agreement: str, on: str, name: str = "Pekerja") -> list[str]:
    return ["member", "enrol", "--nik", i_nik, "--name", name, "--region", "61.72", "--role", "PETANI",
            "--agreement", agreement, "--on", on]


def pay_args(i_nik: str, periods: str, amount: str, reference: str, on: str = "2025-01-07") -> list[str]:
    return ["contribution", "pay", "--nik", i_nik, "--periods", periods, "--amount", amount,
            "--reference", reference, "--on", on]


STORE_FILES = ("ledger.db", "ledger.keys.db", "ledger.key")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two agreements, three members and one payment, built through the CLI once."""
    root = tmp_path_factory.mktemp("template")
    cli = Cli(root)
    init = cli.ok("init")
    assert init["events"] == 0
    assert Path(init["key_file"]) == root / "ledger.key"
    signed = cli.ok(*sign_args(AGREEMENT, "PEMKOT-SKW", "APBD_KOTA", "2025-01", "2025-06"))
    assert signed == {"agreement_id": AGREEMENT, "rate_per_member_month_rp": RATE, "window": "2025-01..2025-06"}
    cli.ok(*sign_args(OTHER_AGREEMENT, "PEMKAB-BKY", "APBD_KAB", "2025-01", "2025-12"))
    assert cli.ok(*enrol_args(PAID, AGREEMENT, "2025-01-06", PAID_NAME))["first_period"] == "2025-01"
    cli.ok(*enrol_args(UNPAID, AGREEMENT, "2025-01-06"))
    assert cli.ok(*enrol_args(LATE, OTHER_AGREEMENT, "2025-03-10"))["first_period"] == "2025-03"
    paid = cli.ok(*pay_args(PAID, "2025-01", str(RATE), "SP2D-CLI-0001"))
    assert paid["periods"] == ["2025-01"]
    assert paid["amount_rp"] == RATE
    assert cli.events() > 0
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("ledger")) == sorted(STORE_FILES)
    return root


@pytest.fixture
def cli(template: Path, tmp_path: Path) -> Cli:
    """A private copy of the prepared store."""
    for name in STORE_FILES:
        shutil.copy2(template / name, tmp_path / name)
    return Cli(tmp_path)


@pytest.fixture
def empty_cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


# --- help -----------------------------------------------------------------------------------------

GROUPS = {
    "agreement": ["sign", "show", "amend-budget"],
    "member": ["enrol", "import", "show", "forget", "change-payer", "carry-in-jht"],
    "contribution": ["pay", "quote"],
    "claim": ["submit", "approve", "reject", "pay"],
}


def test_top_level_help_lists_every_verb(empty_cli: Cli) -> None:
    run = empty_cli("--help")
    assert run.code == 0, str(run)
    for verb in ["init", "agreement", "member", "contribution", "claim", "sweep", "demo"]:
        assert verb in run.out, f"{verb} missing from --help\n{run.out}"
    assert not (empty_cli.root / "ledger.db").exists(), "--help must not create a store"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_help_lists_its_verbs(empty_cli: Cli, group: str) -> None:
    run = empty_cli(group, "--help")
    assert run.code == 0, str(run)
    for verb in GROUPS[group]:
        assert verb in run.out, f"{group} {verb} missing from help\n{run.out}"


def test_every_leaf_command_has_help() -> None:
    """In-process (a subprocess per verb would cost ~20 s): every verb's --help exits 0 and shows its options."""
    from typer.testing import CliRunner

    from cli.app import app

    runner = CliRunner()
    leaves = [[group, verb] for group, verbs in GROUPS.items() for verb in verbs] + [["init"], ["sweep"], ["demo"]]
    for words in leaves:
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"{words}: {result.output}"
        assert " ".join(words) in result.output, result.output
        assert "--store" in result.output, result.output


def test_console_script_help(empty_cli: Cli) -> None:
    script = Path(sys.executable).with_name("jamsos")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    proc = subprocess.run([str(script), "--help"], cwd=empty_cli.root, env=empty_cli.env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "contribution" in proc.stdout


# --- usage errors are one line too ----------------------------------------------------------------


def test_missing_option_is_one_error_line(cli: Cli) -> None:
    cli.refused(2, "amount", "Missing option '--amount'",
                "contribution", "pay", "--nik", UNPAID, "--periods", "2025-01", "--reference", "SP2D-X")


def test_unknown_choice_is_one_error_line(cli: Cli) -> None:
    cli.refused(2, "claim_type", "NOPE", "claim", "submit", "--id", "CL-X", "--nik", PAID, "--type", "NOPE",
                "--event-date", "2025-01-20", "--on", "2025-01-21")


# --- NIK ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_nik", "fragment"),
    [
        pytest.param("617201410161000", "must be 16 digits, got 15", id="too-short"),
        pytest.param("61720141016100A2", "digits only", id="letters"),
        pytest.param("6172013213610002", "birth date 321361", id="day-32"),
        pytest.param("6172017202610002", "birth date 720261", id="woman-day-72"),
        pytest.param("6172014101610000", "serial", id="serial-0000"),
    ],
)
def test_enrol_refuses_a_malformed_nik(cli: Cli, bad_nik: str, fragment: str) -> None:
    cli.refused(2, "nik", fragment, *enrol_args(bad_nik, AGREEMENT, "2025-01-06"))


def test_claim_refuses_a_malformed_nik(cli: Cli) -> None:
    cli.refused(2, "nik", "serial", "claim", "submit", "--id", "CL-X", "--nik", "6172014101610000",
                "--type", "JKM_DEATH", "--event-date", "2025-01-20", "--on", "2025-01-21")


def test_same_nik_twice_in_an_agreement_is_refused(cli: Cli) -> None:
    cli.refused(3, "nik", f"already enrolled in agreement {AGREEMENT}",
                *enrol_args(UNPAID, AGREEMENT, "2025-01-20", "Someone Else"))


# --- amounts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        pytest.param("0", "greater than zero", id="zero"),
        pytest.param("-16800", "plain digits", id="negative"),
        pytest.param("16800.5", "plain digits", id="fractional"),
        pytest.param("16.800", "plain digits", id="dot-thousands"),
        pytest.param("16,800", "plain digits", id="comma-thousands"),
    ],
)
def test_pay_refuses_a_malformed_amount(cli: Cli, amount: str, fragment: str) -> None:
    cli.refused(2, "amount_rp", fragment, *pay_args(UNPAID, "2025-01", amount, "SP2D-CLI-0100"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("16800²", "plain digits"),  # isdigit() but not int(): was a traceback
        ("16800.0", "plain digits"),
        ("Rp16800", "plain digits"),
        ("", "plain digits"),
        ("١٦٨٠٠", "plain digits"),  # Arabic-Indic digits: isdigit() and int() accept them
        ("9" * 5000, "at most 16 digits"),  # int() refuses more than 4300 digits: was a traceback
        ("00000000000000000016800", "got 16800"),  # leading zeros are not digits of the amount
    ],
)
def test_parse_rupiah_in_process(capsys: pytest.CaptureFixture[str], text: str, fragment: str) -> None:
    """The amount parser every money option goes through, without a subprocess per case."""
    import typer

    from cli.common import parse_rupiah

    if fragment.startswith("got "):
        assert parse_rupiah(text, "amount_rp") == int(fragment.removeprefix("got "))
        return
    with pytest.raises(typer.Exit) as exc:
        parse_rupiah(text, "amount_rp")
    assert exc.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: amount_rp: ")
    assert fragment in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("periods", "amount", "fragment"),
    [
        pytest.param("2025-01", "16801", "1 x Rp16.800 = Rp16.800", id="one-period-off-by-one"),
        pytest.param("2025-01..2025-03", "33600", "3 x Rp16.800 = Rp50.400", id="three-periods-paid-as-two"),
    ],
)
def test_pay_refuses_an_amount_off_the_tariff(cli: Cli, periods: str, amount: str, fragment: str) -> None:
    cli.refused(3, "amount_rp", fragment, *pay_args(UNPAID, periods, amount, "SP2D-CLI-0100"))


# --- periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "periods", "code", "field", "fragment"),
    [
        pytest.param(UNPAID, "2026-13", 2, "periods", "month must be 01..12", id="month-13"),
        pytest.param(UNPAID, "2025-03..2025-01", 2, "periods", "ends before it starts", id="backwards-range"),
        # the single-member path names the field "period", not "periods" (see the report): accept both
        pytest.param(UNPAID, "2025-07", 3, "periods?", f"outside agreement {AGREEMENT} window", id="after-window"),
        pytest.param(LATE, "2025-02", 3, "periods?", "before enrolment (first period 2025-03)", id="before-enrolment"),
        pytest.param(PAID, "2025-01..2025-02", 3, "periods?", "2025-01 already paid (reference SP2D-CLI-0001)",
                     id="already-paid"),
    ],
)
def test_pay_refuses_a_bad_period(cli: Cli, who: str, periods: str, code: int, field: str, fragment: str) -> None:
    amount = str(RATE * (2 if ".." in periods or "," in periods else 1))
    on = "2025-03-11" if who == LATE else "2025-01-07"  # LATE is enrolled on 10 March: pay after that
    cli.refused(code, field, fragment, *pay_args(who, periods, amount, "SP2D-CLI-0100", on))


def test_pay_dated_before_the_enrolment_is_refused(cli: Cli) -> None:
    cli.refused(3, "effective_on", "before the enrolment of this membership chain (2025-03-10)",
                *pay_args(LATE, "2025-03", str(RATE), "SP2D-CLI-0101", "2025-03-09"))


# --- payment references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "periods", "amount", "fragment"),
    [
        # another payer (Pemkab Bengkayang pays LATE), same amount
        pytest.param(LATE, "2025-03", str(RATE), "already used by payer PEMKOT-SKW", id="another-payer"),
        # same payer, another amount
        pytest.param(UNPAID, "2025-01..2025-02", str(2 * RATE), "for Rp16.800", id="another-amount"),
        # same payer, same amount: still spent once
        pytest.param(UNPAID, "2025-01", str(RATE), "SP2D-CLI-0001 was already used", id="same-payer-same-amount"),
    ],
)
def test_a_payment_reference_is_spent_once(cli: Cli, who: str, periods: str, amount: str, fragment: str) -> None:
    cli.refused(3, "payment_reference", fragment, *pay_args(who, periods, amount, "SP2D-CLI-0001", on="2025-03-12"))


def test_pay_refuses_a_payer_that_does_not_fund_the_member(cli: Cli) -> None:
    cli.refused(3, "payer_id", "does not fund this member",
                *pay_args(UNPAID, "2025-01", str(RATE), "SP2D-CLI-0100"), "--payer-id", "PEMKAB-BKY")


def test_pay_an_unknown_member(cli: Cli) -> None:
    cli.refused(4, "nik", "unknown member", *pay_args(STRANGER, "2025-01", str(RATE), "SP2D-CLI-0100"))


# --- claims ---------------------------------------------------------------------------------------


def claim_args(claim_id: str, who: str, event_date: str = "2025-01-20", claim_type: str = "JKM_DEATH") -> list[str]:
    return ["claim", "submit", "--id", claim_id, "--nik", who, "--type", claim_type, "--event-date", event_date,
            "--on", "2025-01-21"]


def test_claim_for_an_unknown_member(cli: Cli) -> None:
    cli.refused(4, "nik", "unknown member", *claim_args("CL-STRANGER", STRANGER))


def test_second_death_claim_for_a_member_is_refused(cli: Cli) -> None:
    first = cli.ok(*claim_args("CL-DEATH-1", PAID))
    assert first["claim_id"] == "CL-DEATH-1"
    assert first["status"] in {"SUBMITTED", "HELD"}
    cli.refused(3, "claim_type", "one per member", *claim_args("CL-DEATH-2", PAID, event_date="2025-01-21"))


def test_death_claim_approved_and_paid(cli: Cli) -> None:
    cli.ok(*claim_args("CL-DEATH-1", PAID))
    cli.refused(3, "principal", "four eyes", "claim", "approve", "CL-DEATH-1", "--on", "2025-01-25")
    approved = cli.ok(*cli.grant("officer-2", "claims-officer"), "claim", "approve", "CL-DEATH-1", "--on",
                      "2025-01-25")
    assert approved["status"] == "APPROVED"
    assert approved["amount_rp"] == 42_000_000
    assert sum(approved["components"].values()) == 42_000_000
    paid = cli.ok("claim", "pay", "CL-DEATH-1", "--reference", "BPJS-PAY-0001", "--on", "2025-01-28")
    assert paid["status"] == "PAID"


def test_unknown_claim(cli: Cli) -> None:
    cli.refused(4, "claim_id", "unknown claim CL-NOPE", "claim", "approve", "CL-NOPE", "--on", "2025-01-25")


def test_unknown_agreement(cli: Cli) -> None:
    cli.refused(4, "agreement_id", "unknown agreement NOPE-2025", *enrol_args(STRANGER, "NOPE-2025", "2025-01-06"))


# --- idempotency ----------------------------------------------------------------------------------


def test_command_id_replay_and_conflict(cli: Cli) -> None:
    args = [*pay_args(UNPAID, "2025-01", str(RATE), "SP2D-CLI-0100"), "--command-id", "pay-unpaid-jan"]
    before = cli.events()
    first = cli.ok(*args)
    assert first["periods"] == ["2025-01"]
    assert "replayed" not in first
    after_first = cli.events()
    assert after_first > before

    again = cli.ok(*args)
    assert again == {**first, "replayed": True}
    assert cli.events() == after_first, "a replay must write nothing"

    # the same id with another payload: exit 5, nothing written
    other = [*pay_args(UNPAID, "2025-02", str(RATE), "SP2D-CLI-0101"), "--command-id", "pay-unpaid-jan"]
    cli.refused(5, "command_id", "already used", *other)
    # ... even for another kind of command
    cli.refused(5, "command_id", "already used", "sweep", "--on", "2025-02-01", "--command-id", "pay-unpaid-jan")
    # the replay still works after the conflicts
    assert cli.ok(*args) == {**first, "replayed": True}
    assert cli.events() == after_first


# --- member show ----------------------------------------------------------------------------------


def test_member_show_hides_personal_data_unless_revealed(cli: Cli) -> None:
    run = cli("member", "show", PAID, "--on", "2025-01-15", "--json")
    assert run.code == 0, str(run)
    view = run.json()
    assert view["periods_paid"] == 1
    assert view["contributions_paid_rp"] == RATE
    assert [s["paid_through"] for s in view["spells"]] == ["2025-01"]
    assert view["spells"][0]["payers"][0]["agreement_code"] == AGREEMENT
    assert view["coverage"] == {"on": "2025-01-15", "member_on_that_day": True, "covered": True,
                                "period": "2025-01", "payer_id": "PEMKOT-SKW"}
    assert "personal" not in view
    assert PAID_NAME not in run.out
    assert PAID not in run.out

    cli.refused(2, "purpose", "needs --purpose", "member", "show", PAID, "--reveal", "--on", "2025-02-15")
    revealed = cli.ok("member", "show", PAID, "--reveal", "--purpose", "verifikasi data peserta", "--on", "2025-02-15")
    assert revealed["personal"]["name"] == PAID_NAME
    assert revealed["personal"]["nik"] == PAID
    assert revealed["coverage"]["covered"] is False  # February is not paid


def test_member_show_of_an_unknown_nik(cli: Cli) -> None:
    cli.refused(4, "nik", "unknown member", "member", "show", STRANGER)


# --- cohort payment -------------------------------------------------------------------------------


def test_cohort_payment_with_the_quoted_amount(cli: Cli) -> None:
    before = cli.events()
    quote = cli.ok("contribution", "quote", "--agreement", AGREEMENT, "--periods", "2025-02..2025-03",
                   "--on", "2025-01-20")
    assert cli.events() == before, "a quote writes nothing"
    assert quote["members_payable"] == 2
    assert quote["amount_rp"] == 2 * 2 * RATE
    assert quote["skipped"] == {}

    cli.refused(3, "amount_rp", "Rp67.200",  # 2 members × 2 months × Rp16.800
                "contribution", "pay", "--agreement", AGREEMENT,
                "--periods", "2025-02..2025-03", "--amount", str(quote["amount_rp"] - 1),
                "--reference", "SP2D-COHORT-1", "--on", "2025-01-20")

    paid = cli.ok("contribution", "pay", "--agreement", AGREEMENT, "--periods", "2025-02..2025-03",
                  "--amount", str(quote["amount_rp"]), "--reference", "SP2D-COHORT-1", "--on", "2025-01-20")
    assert paid["members_paid"] == 2
    assert paid["amount_rp"] == quote["amount_rp"]
    assert paid["periods"] == ["2025-02", "2025-03"]

    # paid now: a second payment of the same months finds nobody to pay
    cli.refused(3, "agreement_id", "no member", "contribution", "pay", "--agreement", AGREEMENT,
                "--periods", "2025-02..2025-03", "--amount", str(quote["amount_rp"]),
                "--reference", "SP2D-COHORT-2", "--on", "2025-01-20")


def test_cohort_quote_skips_members_already_paid(cli: Cli) -> None:
    quote = cli.ok("contribution", "quote", "--agreement", AGREEMENT, "--periods", "2025-01", "--on", "2025-01-20")
    assert quote["members_payable"] == 1
    assert quote["amount_rp"] == RATE
    assert sum(quote["skipped"].values()) == 1


def test_cohort_payment_outside_the_window_and_both_targets(cli: Cli) -> None:
    cli.refused(3, "periods", "outside agreement", "contribution", "pay", "--agreement", AGREEMENT,
                "--periods", "2025-07", "--amount", str(2 * RATE), "--reference", "SP2D-COHORT-1",
                "--on", "2025-01-20")
    cli.refused(2, "nik", "exactly one of --nik", "contribution", "pay", "--agreement", AGREEMENT, "--nik", UNPAID,
                "--periods", "2025-02", "--amount", str(RATE), "--reference", "SP2D-COHORT-1")


# --- sweep and dates ------------------------------------------------------------------------------


def test_sweep_twice_for_a_date_emits_nothing_the_second_time(cli: Cli) -> None:
    before = cli.events()
    first = cli.ok("sweep", "--on", "2025-07-01")
    assert first["on"] == "2025-07-01"
    lapsed = sum(first["lapsed"].values())
    assert first["lapsed"] == {"ARREARS": 3}, first  # four months unpaid: every member of the template
    topics = cli.topics_after(before)
    assert topics.count("CoverageLapsed") == lapsed, topics

    middle = cli.events()
    second = cli.ok("sweep", "--on", "2025-07-01")
    assert second["lapsed"] == {}
    assert second["claims_rejected"] == 0
    # only the new run's own command record, no lapse or any other fact
    assert cli.topics_after(middle) == ["CommandAccepted"]


@pytest.mark.parametrize("bad_date", ["2025-02-30", "01/07/2025"])
def test_malformed_on_date(cli: Cli, bad_date: str) -> None:
    cli.refused(2, "on", "YYYY-MM-DD", "sweep", "--on", bad_date)


def test_malformed_dates_on_other_commands(cli: Cli) -> None:
    cli.refused(2, "on", "2025-02-30", *pay_args(UNPAID, "2025-01", str(RATE), "SP2D-CLI-0100", on="2025-02-30"))
    cli.refused(2, "event_date", "YYYY-MM-DD", *claim_args("CL-X", PAID, event_date="2025-01-32"))


# --- cohort files ---------------------------------------------------------------------------------

HEADER = "nik,name,birth_date,address,village_code,role,declared_income_rp"


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bad_cohort(path: Path) -> Path:
    return write_csv(path, [
        HEADER,
        f"{nik(10)},Ani,1970-04-02,Jl. Merdeka 1,61.72.01.2001,PETANI,",  # line 2: good
        "12345,Bad Nik,,,,PETANI,",  # line 3: NIK too short
        f"{nik(11)},,,,,PETANI,",  # line 4: no name
        f"{nik(10)},Ani Again,,,,PETANI,",  # line 5: duplicate of line 2
        f"{nik(12)},Cici,,,,NELAYAN,1.000.000",  # line 6: income with separators
        f"{nik(13)},Dedi,,,,NELAYAN,1500000",  # line 7: good
        f"{nik(14)},Eka,,,,NELAYAN,satu juta",  # line 8: income in words
    ])


BAD_LINES = {3: "nik", 4: "name", 5: "nik", 6: "declared_income_rp", 8: "declared_income_rp"}


def test_import_with_bad_rows_imports_nothing_and_lists_every_bad_row(cli: Cli) -> None:
    path = bad_cohort(cli.root / "cohort.csv")
    run = cli.refused(2, "rows", "5 bad row(s), nothing imported",
                      "member", "import", str(path), "--agreement", AGREEMENT, "--on", "2025-01-06")
    listed = [line.strip() for line in run.err.splitlines()[1:]]
    assert len(listed) == len(BAD_LINES), str(run)
    for (line_no, field), text in zip(sorted(BAD_LINES.items()), listed, strict=True):
        assert text.startswith(f"line {line_no}: {field}: "), str(run)
    assert "duplicate of line 2" in listed[2]
    # the good rows were not enrolled either
    cli.refused(4, "nik", "unknown member", "member", "show", nik(13))
    assert not (cli.root / "cohort.rejects.csv").exists()


def test_import_skip_invalid_imports_good_rows_and_writes_rejects(cli: Cli) -> None:
    path = bad_cohort(cli.root / "cohort.csv")
    rejects = cli.root / "out" / "rejects.csv"
    rejects.parent.mkdir()
    before = cli.events()
    result = cli.ok("member", "import", str(path), "--agreement", AGREEMENT, "--on", "2025-01-06",
                    "--skip-invalid", "--rejects", str(rejects))
    assert result["imported"] == 2
    assert [r["line"] for r in result["rejected"]] == sorted(BAD_LINES)
    assert result["rejects_file"] == str(rejects)
    assert cli.topics_after(before).count("MemberEnrolled") == 2

    with rejects.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["line"]): r["field"] for r in rows} == BAD_LINES
    assert all(r["reason"] for r in rows)
    assert cli.ok("member", "show", nik(13))["declared_income_rp"] == 1_500_000

    # the same file again is a retry of the same import: the recorded result, nothing new (was a crash)
    after = cli.events()
    again = cli.ok("member", "import", str(path), "--agreement", AGREEMENT, "--on", "2025-01-06",
                   "--skip-invalid", "--rejects", str(rejects))
    assert again["replayed"] is True
    assert again["imported"] == 2
    assert cli.events() == after
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 1 + len(BAD_LINES)


def test_import_default_rejects_file_name(cli: Cli) -> None:
    path = bad_cohort(cli.root / "cohort.csv")
    result = cli.ok("member", "import", str(path), "--agreement", AGREEMENT, "--on", "2025-01-06", "--skip-invalid")
    target = cli.root / "cohort.rejects.csv"
    assert result["rejects_file"] == str(target)
    assert [line.split(",")[0] for line in target.read_text(encoding="utf-8").splitlines()[1:]] == [
        str(n) for n in sorted(BAD_LINES)
    ]


def test_import_line_numbers_count_blank_and_multiline_rows(cli: Cli) -> None:
    path = write_csv(cli.root / "cohort.csv", [
        HEADER,
        f"{nik(10)},Ani,,,,PETANI,",  # line 2
        "",  # line 3: blank
        f'{nik(11)},Budi,,"Jl. Panjang',  # line 4 ...
        'RT 01",,PETANI,',  # ... line 5: a quoted address over two lines
        "0000000000000000,Bad,,,,PETANI,",  # line 6
    ])
    run = cli.refused(2, "rows", "1 bad row(s)", "member", "import", str(path), "--agreement", AGREEMENT,
                      "--on", "2025-01-06")
    assert run.err.splitlines()[1].strip().startswith("line 6: nik: "), str(run)


def test_import_good_csv(cli: Cli) -> None:
    path = write_csv(cli.root / "good.csv", [
        HEADER,
        f"{nik(20)},Siti Aminah,1980-07-03,Jl. Gajah Mada 5,61.72.01.2001,PEDAGANG,2500000",
        f"{nik(21)},Rudi Hartono,,,,NELAYAN,2500000",
        f"{nik(22)},Wati,,,,KETUA_RT,",
    ])
    before = cli.events()
    result = cli.ok("member", "import", str(path), "--agreement", AGREEMENT, "--on", "2025-01-06")
    assert result["imported"] == 3
    assert result["rejected"] == []
    assert cli.topics_after(before).count("MemberEnrolled") == 3
    siti = cli.ok("member", "show", nik(20), "--reveal", "--purpose", "cek hasil impor")
    assert siti["personal"]["name"] == "Siti Aminah"
    assert siti["personal"]["birth_date"] == "1980-07-03"
    assert siti["village_code"] == "61.72.01.2001"
    assert siti["role"] == "PEDAGANG"
    assert siti["declared_income_rp"] == 2_500_000
    shown = cli.ok("agreement", "show", AGREEMENT, "--on", "2025-01-15")
    assert shown["members_enrolled"] == 5


def test_import_good_xlsx(cli: Cli) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append([nik(30), "Ahmad", datetime(1990, 11, 5), "Desa Karya Bhakti", "61.72.01.2001", "PETANI", 1_200_000])
    ws.append([None] * 7)  # an empty row is skipped
    ws.append([nik(31), "Bambang", None, None, None, "MARBOT", None])
    ws.append([int(nik(32)), "Cahya", None, None, None, "IMAM", None])  # NIK as an exact integer cell
    path = cli.root / "cohort.xlsx"
    wb.save(path)
    before = cli.events()
    result = cli.ok("member", "import", str(path), "--agreement", AGREEMENT, "--on", "2025-01-06")
    assert result["imported"] == 3, result
    assert cli.topics_after(before).count("MemberEnrolled") == 3
    ahmad = cli.ok("member", "show", nik(30), "--reveal", "--purpose", "cek hasil impor")
    assert ahmad["personal"]["birth_date"] == "1990-11-05"
    assert ahmad["declared_income_rp"] == 1_200_000
    assert cli.ok("member", "show", nik(32))["role"] == "IMAM"


def test_import_xlsx_with_bad_rows_names_their_lines(cli: Cli) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append([nik(30), "Ahmad", None, None, None, "PETANI", None])  # line 2: good
    ws.append([int(nik(31)), "Budi", None, None, None, "PETANI", None])  # line 3: made an Excel float below
    ws.append([nik(32), "Cahya", None, None, None, "PETANI", 1_000_000.5])  # line 4: fractional income
    ws.append([nik(33), None, None, None, None, "PETANI", None])  # line 5: no name
    path = cli.root / "cohort.xlsx"
    wb.save(path)
    # Excel keeps 15 significant digits and writes a 16-digit number like this: the last digit is lost
    excel_float = f"{int(nik(31)):.14E}"  # 6.17201420471001E+15
    rewrite_zip_member(path, "xl/worksheets/sheet1.xml",
                       lambda xml: xml.replace(f"<v>{nik(31)}</v>", f"<v>{excel_float}</v>"))
    run = cli.refused(2, "rows", "3 bad row(s)", "member", "import", str(path), "--agreement", AGREEMENT,
                      "--on", "2025-01-06")
    listed = [line.strip() for line in run.err.splitlines()[1:]]
    assert listed[0].startswith("line 3: nik: "), str(run)
    assert "as text" in listed[0]
    assert listed[1].startswith("line 4: declared_income_rp: "), str(run)
    assert listed[2].startswith("line 5: name: "), str(run)


def rewrite_zip_member(path: Path, member: str, change: Any) -> None:
    import zipfile

    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in items:
            if info.filename == member:
                changed = change(data.decode("utf-8"))
                assert changed != data.decode("utf-8"), "the rewrite found nothing to change"
                data = changed.encode("utf-8")
            dst.writestr(info, data)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        pytest.param("cohort.xlsx", random.Random(7).randbytes(4096), "not a readable XLSX workbook", id="xlsx-noise"),
        pytest.param("cohort.xlsx", b"", "not a readable XLSX", id="xlsx-empty"),
        pytest.param("cohort.csv", "nik,name,role\n6172014101610002,Jérôme,PETANI\n".encode("cp1252"), "UTF-8",
                     id="csv-cp1252"),
        pytest.param("cohort.csv", b"nama;nik;peran\nBudi;6172014101610002;PETANI\n", "header lacks",
                     id="csv-semicolons"),
        pytest.param("cohort.txt", b"nik,name,role\n", "only .csv and .xlsx", id="txt"),
    ],
)
def test_import_an_unreadable_file(cli: Cli, name: str, content: bytes, fragment: str) -> None:
    path = cli.root / name
    path.write_bytes(content)
    cli.refused(2, "file", fragment, "member", "import", str(path), "--agreement", AGREEMENT)


def test_import_a_missing_file_or_a_directory(cli: Cli) -> None:
    cli.refused(2, "file", "does not exist", "member", "import", str(cli.root / "nope.csv"), "--agreement", AGREEMENT)
    (cli.root / "dir.csv").mkdir()
    cli.refused(2, "file", "is not a file", "member", "import", str(cli.root / "dir.csv"), "--agreement", AGREEMENT)


def test_import_into_an_unknown_agreement(cli: Cli) -> None:
    path = write_csv(cli.root / "good.csv", [HEADER, f"{nik(20)},Siti,,,,PETANI,"])
    cli.refused(4, "agreement_id", "unknown agreement", "member", "import", str(path), "--agreement", "NOPE-2025")


# --- a store that was never initialised ------------------------------------------------------------


def test_reading_commands_do_not_create_a_store(empty_cli: Cli) -> None:
    run = empty_cli("member", "show", PAID)
    assert run.code == 2, str(run)
    assert_error(run, "store", "jamsos init")
    assert not (empty_cli.root / "ledger.key").exists()


def test_views_render_as_tables_without_json(cli: Cli) -> None:
    member = cli("member", "show", PAID, "--on", "2025-01-15")
    assert member.code == 0, str(member)
    assert "Membership chains" in member.out and "covered, period 2025-01" in member.out
    assert PAID_NAME not in member.out
    agreement = cli("agreement", "show", AGREEMENT, "--on", "2025-01-15")
    assert agreement.code == 0, str(agreement)
    assert "rate per member-month" in agreement.out and "Rp16.800" in agreement.out


@pytest.mark.parametrize(
    ("args", "code", "field", "fragment"),
    [
        (["project", "rebuild", "nope"], 2, "name", "unknown projection"),
        (["report", "nope"], 2, "report", "unknown report"),
        (["report", "members", "--on", "2025-02-30"], 2, "on", "YYYY-MM-DD"),
        (["report", "members", "--as-of", "yesterday"], 2, "as_of", "ISO timestamp"),
        (["report", "members", "--on", "2099-01-01"], 2, "on", "future"),
        (["report", "members", "--as-of", "2099-01-01T00:00:00+07:00"], 2, "as_of", "future"),
        (["report", "balances", "--agreement", "NOPE-2025"], 4, "agreement_id", "unknown agreement"),
    ],
)
def test_report_and_projection_bad_inputs(cli: Cli, args: list[str], code: int, field: str, fragment: str) -> None:
    cli.refused(code, field, fragment, *args)


def test_reports_export_csv_per_section_and_xlsx(cli: Cli, tmp_path: Path) -> None:
    """--csv DIR writes one file per section and one for the totals, each with one header row (issue 10, section 5)."""
    from openpyxl import load_workbook

    from projections.cells import label
    from projections.workbook import read_table

    out_dir = tmp_path / "out" / "csv"  # missing, parents too: created
    out = cli.ok("report", "balances", "--on", "2025-01-31", "--csv", str(out_dir), "--xlsx", str(tmp_path / "b.xlsx"))
    assert out["totals"]["paid_rp"] == RATE
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [f"balances.{s}.csv" for s in out["sections"]] + ["balances.totals.csv"])
    for name, section in out["sections"].items():
        with (out_dir / f"balances.{name}.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        assert reader.fieldnames == section["columns"]
        assert [[r[c] for c in section["columns"]] for r in rows] == [
            ["" if v is None else str(v) for v in row] for row in section["rows"]]
    with (out_dir / "balances.totals.csv").open(newline="", encoding="utf-8") as fh:
        (totals,) = list(csv.DictReader(fh))
    assert int(totals["paid_rp"]) == RATE and totals["report"] == "balances" and totals["on"] == "2025-01-31"
    assert int(totals["position"]) == out["position"] and totals["generated_at"] == out["generated_at"]
    workbook_totals = dict(read_table(load_workbook(tmp_path / "b.xlsx")["totals"])[1])
    assert workbook_totals[label("paid_rp")] == out["totals"]["paid_rp"]
    again = cli("report", "balances", "--on", "2025-01-31", "--csv", str(out_dir), "--section", "by_payer")
    assert again.code == 0 and again.err == "", str(again)  # DIR exists: written again
    assert list(csv.reader(again.out.splitlines())) == list(csv.reader(
        (out_dir / "balances.by_payer.csv").read_text(encoding="utf-8").splitlines()))
    totals_out = cli("report", "balances", "--on", "2025-01-31", "--section", "totals").out
    assert next(csv.DictReader(totals_out.splitlines()))["paid_rp"] == str(RATE)


def test_report_export_bad_paths_are_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "dir.xlsx").mkdir()
    report = ["report", "balances", "--on", "2025-01-31"]
    cli.refused(2, "csv", "takes a directory", *report, "--csv", str(tmp_path / "a-file"))
    cli.refused(2, "csv", "looks like a file name", *report, "--csv", str(tmp_path / "b.csv"))
    cli.refused(2, "csv", "cannot write", *report, "--csv", str(tmp_path / "a-file" / "sub"))
    cli.refused(2, "xlsx", "must end in .xlsx", *report, "--xlsx", str(tmp_path / "b.xls"))
    cli.refused(2, "xlsx", "is a directory", *report, "--xlsx", str(tmp_path / "dir.xlsx"))
    cli.refused(2, "xlsx", "does not exist", *report, "--xlsx", str(tmp_path / "nope" / "b.xlsx"))
    cli.refused(2, "section", "no section 'nope'; known: by_agreement_period", *report, "--section", "nope")
    cli.refused(2, "section", "--json", *report, "--section", "totals", "--json")
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "nope").exists()


def test_audit_trail_of_a_member_and_project_status(cli: Cli) -> None:
    trail = cli.ok("audit", "trail", "--member", PAID)
    types = [row["event_type"] for row in trail["rows"]]
    assert types[:2] == ["MemberEnrolled", "ContributionPaid"]
    assert all(PAID not in json.dumps(row) and PAID_NAME not in json.dumps(row) for row in trail["rows"])
    sealed = cli.ok("audit", "seal")
    assert cli.ok("audit", "verify", "--head", sealed["hash"])["ok"] is True
    status = cli.ok("project", "status")["projections"]
    assert {p["projection"] for p in status} == {"audit", "journal", "registers"}
    cli.refused(2, "member", "exactly one", "audit", "trail")
