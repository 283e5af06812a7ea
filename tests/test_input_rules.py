"""Bad input that used to get in (issue 11, part 3), refused with the field named and nothing written, on every face
(the command models the CLI, the broker and the HTTP API build; the ledger rules behind them); and text already
stored, or coming from a bank, that never reaches a terminal or a spreadsheet raw (docs/rules.md#text-input,
docs/rules.md#text-output, docs/rules.md#birth-date, docs/rules.md#regions, docs/rules.md#member-roles).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cli.render import terminal_safe
from commands.bulk import ImportRejected
from commands.cohort_file import read_cohort
from commands.messages import (
    CohortRow,
    EnrolMember,
    ForgetMember,
    ImportCohort,
    SignAgreement,
    make,
    parse_command,
)
from commands.statement_file import ParsedStatement
from eventstore.bootstrap import bootstrap
from ledger.errors import InvalidInput, RuleViolation
from ledger.identity import check_birth_date
from ledger.reconciliation import StatementLine
from ledger.roles import ROLE_LISTS, roles_in_force
from ledger.tariff import CONTRIBUTION_TARIFFS
from ledger.text import NIK_MASK, from_bank, json_escaped, nik_runs, printable, require_text, spreadsheet_text
from ledger.values import BillingCadence, FundSource, PayerType, Programme
from projections.export import csv_text, write_xlsx
from tests.conftest import events_count, execute, member_view, nik, run
from tests.test_behaviour import AGREEMENT, enrol, refused, sign
from tests.test_cli import AGREEMENT as CLI_AGREEMENT
from tests.test_cli import HEADER, Cli, cli, template, write_csv

__all__ = ["cli", "template"]  # the CLI fixtures, imported for their names

CONTROLS = {
    "NUL": "\x00", "TAB": "\t", "LF": "\n", "ESC clear screen": "\x1b[2J", "DEL": "\x7f", "CSI": "\x9b",
    "OSC": "\x9d8;;http://evil\x9c", "RLO": "\u202e", "LRI": "\u2066", "PDI": "\u2069", "LINE SEPARATOR": "\u2028",
}
A_NIK = nik(1)


def born(n: str) -> date:
    """The birth date the synthetic NIK ``n`` encodes (its years are 1960..1999)."""
    day, month, year = int(n[6:8]), int(n[8:10]), int(n[10:12])
    return date(1900 + year, month, day - 40 if day > 40 else day)


def enrol_message(**fields: Any) -> dict[str, Any]:
    return {"nik": A_NIK, "name": "Siti", "region_code": "61.72", "role": "PETANI", "agreement_id": AGREEMENT,
            **fields}


def refused_message(kind: str, data: dict[str, Any], field: str, fragment: str = "") -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_command(kind, data)
    assert info.value.field == field, f"expected {field!r}, got {info.value}"
    assert fragment.lower() in info.value.reason.lower(), str(info.value)
    return info.value


# --- the text rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("control", list(CONTROLS.values()), ids=list(CONTROLS))
def test_a_control_character_is_refused_in_every_text_field_of_every_command(control: str) -> None:
    text = f"Siti{control}Aminah"
    cases = [
        ("member.enrol", enrol_message(name=text), "name"),
        ("member.enrol", enrol_message(address=text), "address"),
        ("member.enrol", enrol_message(phone=text), "phone"),
        ("member.enrol", enrol_message(role=text), "role"),
        ("member.enrol", enrol_message(village_code=f"61.72.01{control}"), "village_code"),
        ("agreement.sign", {"agreement_id": "A-1", "name": text, "payer_id": "P", "payer_type": "APBD_KOTA",
                            "fund_source": "APBD", "region_code": "61.72", "first_period": "2025-01",
                            "last_period": "2025-06", "budget_rp": 1_000_000}, "name"),
        ("agreement.sign", {"agreement_id": "A-1", "name": "ok", "payer_id": "P", "payer_type": "APBD_KOTA",
                            "fund_source": "APBD", "region_code": "61.72", "first_period": "2025-01",
                            "last_period": "2025-06", "budget_rp": 1_000_000, "legal_basis": text}, "legal_basis"),
        ("agreement.amend_budget", {"agreement_id": "A-1", "budget_rp": 5, "reason": text}, "reason"),
        ("member.forget", {"nik": A_NIK, "reason": text}, "reason"),
        ("member.carry_in_jht", {"nik": A_NIK, "amount_rp": 5, "source": text}, "source"),
        ("claim.reject", {"claim_id": "C-1", "reason_code": "X", "reason": text}, "reason"),
        ("region.workforce", {"region_code": "61.72", "workforce": 5, "source": text}, "source"),
        ("reconcile.resolve", {"statement_id": "0" * 64, "line_no": 1, "action": "SUSPENSE", "note": text}, "note"),
        ("contribution.pay", {"nik": A_NIK, "periods": "2025-01", "amount_rp": 5, "payment_reference": text},
         "payment_reference"),
    ]
    for kind, data, field in cases:
        refused_message(kind, data, field)
    with pytest.raises(InvalidInput) as info:
        make(CohortRow, nik=A_NIK, name=text, role="PETANI")
    assert info.value.field == "name"


def test_a_name_of_spaces_only_is_empty() -> None:
    refused_message("member.enrol", enrol_message(name="   "), "name", "spaces only")
    refused_message("member.enrol", enrol_message(name="\u3000 "), "name", "spaces only")  # ideographic space
    refused_message("agreement.amend_budget", {"agreement_id": "A-1", "budget_rp": 5, "reason": "  "}, "reason")
    assert parse_command("member.enrol", enrol_message(name="  Siti Aminah ")).name == "Siti Aminah"  # type: ignore[attr-defined]
    # Indonesian, accented and Chinese-Indonesian names are text like any other
    for name in ("Jérôme", "Lie Kim Hok 李金福", "Ni Luh Putu Ayu", "Ma'ruf"):
        assert require_text(name) == name


@pytest.mark.parametrize("written", ["3171011201900001", "3171 0112 0190 0001", "317101.120190.0001",
                                     "31-71-01-120190-0001", "NIK:3171011201900001,", "31.71.01.120190.0001"])
def test_a_nik_shaped_number_in_free_text_is_refused(written: str) -> None:
    assert nik_runs(f"transfer {written} Januari") != []
    refused_message("contribution.pay", {"nik": A_NIK, "periods": "2025-01", "amount_rp": 5,
                                         "payment_reference": "SP2D-" + written.replace(" ", "").replace(",", "")},
                    "payment_reference", "personal data must not go into free text")
    refused_message("agreement.amend_budget", {"agreement_id": "A-1", "budget_rp": 5, "reason": f"for {written}"},
                    "reason", "personal data")
    refused_message("member.forget", {"nik": A_NIK, "reason": f"request of {written}"}, "reason", "personal data")


@pytest.mark.parametrize("text", [
    "1.000.000.000.000.000",  # an amount grouped by thousands
    "0001234567890123",  # 16 digits that are no NIK (province 00)
    "31710112019000012",  # 17 digits: part of a longer run
    "SP2D-2025-12-0001-000123",  # dates and serials
    "3171011201900000",  # serial 0000
    "3171013213900001",  # month 13
    "Rp16.800 x 7.737 = Rp129.981.600",
])
def test_numbers_that_are_not_a_nik_are_left_alone(text: str) -> None:
    assert nik_runs(text) == []
    assert require_text(text, free_text=True) == text


def test_the_sealed_fields_may_hold_digits() -> None:
    """A NIK in an address is personal data where personal data belongs (sealed): only clear fields refuse it."""
    assert parse_command("member.enrol", enrol_message(address="Jl. 3171011201900001")).address  # type: ignore[attr-defined]


# --- birth date --------------------------------------------------------------------------------------------------


def test_birth_date_rules() -> None:
    n = nik(7)
    check_birth_date(born(n), n, date(2025, 1, 6))
    for bad, fragment in ((date(1899, 12, 31), "before 1900"), (date(1, 1, 1), "before 1900"),
                          (born(n).replace(year=born(n).year + 1), "contradicts the NIK"),
                          (born(n).replace(day=born(n).day % 28 + 1), "contradicts the NIK")):
        with pytest.raises(InvalidInput, match=fragment) as info:
            check_birth_date(bad, n)
        assert info.value.field == "birth_date"
        assert bad.isoformat() not in info.value.reason  # the reason does not repeat personal data
    women = nik(1)
    assert int(women[6:8]) > 40
    check_birth_date(born(women), women)


def test_a_birth_date_contradicting_the_nik_or_absurd_is_refused_by_the_message() -> None:
    refused_message("member.enrol", enrol_message(birth_date="1961-01-02"), "birth_date", "contradicts the NIK")
    refused_message("member.enrol", enrol_message(birth_date="1899-01-01"), "birth_date", "before 1900")
    with pytest.raises(InvalidInput, match="contradicts"):
        make(CohortRow, nik=A_NIK, name="Siti", role="PETANI", birth_date=date(2099, 1, 1))


def test_a_birth_date_after_the_enrolment_is_refused_and_writes_nothing(memory_ledger: Any) -> None:
    ledger = memory_ledger
    sign(ledger)
    assert nik(39)[10:12] == nik(79)[10:12] == "99"  # a NIK's year 99 is 1999 or 2099
    err = refused(ledger, InvalidInput, "birth_date", enrol, ledger, 39, birth_date=born(nik(39)).replace(year=2099))
    assert "after the enrolment day 2025-01-06" in err.reason
    assert enrol(ledger, 39, birth_date=born(nik(39)))["member_id"]
    rows = [(2, CohortRow(nik=nik(41), name="A", role="PETANI", birth_date=born(nik(41)))),
            (3, CohortRow(nik=nik(79), name="B", role="PETANI", birth_date=born(nik(79)).replace(year=2099)))]
    err = refused(ledger, ImportRejected, "rows", execute, ledger,
                  ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    assert [(e.line, e.field) for e in err.errors] == [(3, "birth_date")]  # type: ignore[attr-defined]


# --- regions, villages, roles ------------------------------------------------------------------------------------


def test_an_unknown_region_is_refused_and_writes_nothing(memory_ledger: Any) -> None:
    ledger = memory_ledger
    sign(ledger)
    for on in (date(2025, 1, 6), None):
        err = refused(ledger, InvalidInput, "region_code", enrol, ledger, 5, region_code="99.99", on=on)
        assert "99" in err.reason
    refused(ledger, InvalidInput, "region_code", execute, ledger,
            make(SignAgreement, agreement_id="X-99", name="x", payer_id="P", payer_type=PayerType.APBD_KOTA,
                 fund_source=FundSource.APBD, region_code="99.99", first_period="2025-01", last_period="2025-06",
                 budget_rp=1_000_000, billing_cadence=BillingCadence.MONTHLY, effective_on=date(2025, 1, 2)))
    refused(ledger, InvalidInput, "region_code", execute, ledger,
            parse_command("region.workforce", {"region_code": "99.99", "workforce": 10, "source": "BPS",
                                               "effective_on": "2025-01-02"}))
    # an import with --region 99.99 too
    refused(ledger, InvalidInput, "region_code", execute, ledger,
            ImportCohort(agreement_id=AGREEMENT, region_code="99.99", effective_on=date(2025, 1, 6),
                         rows=[(2, CohortRow(nik=nik(5), name="A", role="PETANI"))]))


@pytest.mark.parametrize(("village", "fragment"), [
    ("31.71.01.1001", "not in the member's region 61.72"),  # Jakarta, for a Singkawang member
    ("61.07.01.2001", "not in the member's region 61.72"),  # Bengkayang
    ("61.72.01", "village code like"),  # a district, not a village
    ("61.72.01.1001.5", "village code like"),
    ("6172011001", "village code like"),
])
def test_a_village_outside_the_members_region_is_refused(memory_ledger: Any, village: str, fragment: str) -> None:
    ledger = memory_ledger
    sign(ledger)
    err = refused(ledger, InvalidInput, "village_code", enrol, ledger, 5, village_code=village)
    assert fragment in err.reason
    rows = [(2, CohortRow(nik=nik(5), name="A", role="PETANI", village_code=village))]
    err = refused(ledger, ImportRejected, "rows", execute, ledger,
                  ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    assert [(e.line, e.field) for e in err.errors] == [(2, "village_code")]  # type: ignore[attr-defined]


def test_a_village_inside_the_region_is_kept(memory_ledger: Any) -> None:
    ledger = memory_ledger
    sign(ledger)
    enrol(ledger, 5, village_code=" 61.72.01.1001 ")
    assert member_view(ledger, nik(5), None, None)["village_code"] == "61.72.01.1001"


@pytest.mark.parametrize("role", ["'; DROP TABLE STORED_EVENTS;--", "X", "PETANI NELAYAN", "PNS", ""])
def test_a_free_text_role_is_refused_with_the_known_roles(memory_ledger: Any, role: str) -> None:
    ledger = memory_ledger
    sign(ledger)
    if not role:
        refused_message("member.enrol", enrol_message(role=role), "role")
        return
    err = refused(ledger, InvalidInput, "role", enrol, ledger, 5, role=role)
    assert "known: " in err.reason and "KADER_POSYANDU" in err.reason and "NELAYAN" in err.reason
    rows = [(2, CohortRow(nik=nik(5), name="A", role=role)), (3, CohortRow(nik=nik(6), name="B", role="PETANI"))]
    err = refused(ledger, ImportRejected, "rows", execute, ledger,
                  ImportCohort(agreement_id=AGREEMENT, rows=rows, effective_on=date(2025, 1, 6)))
    assert [(e.line, e.field) for e in err.errors] == [(2, "role")]  # type: ignore[attr-defined]


def test_roles_are_upper_cased_and_the_relief_roles_are_in_the_list(memory_ledger: Any) -> None:
    ledger = memory_ledger
    sign(ledger)
    enrol(ledger, 5, role=" ketua_rt ")
    assert member_view(ledger, nik(5), None, None)["role"] == "KETUA_RT"
    for tariff in CONTRIBUTION_TARIFFS:
        assert tariff.relief_roles <= set(roles_in_force(tariff.valid_from).roles)
    from cli.seed_demo import SCHEMES

    for scheme in SCHEMES:
        assert set(scheme.roles) <= set(roles_in_force(scheme.signed_on).roles), scheme.code
    assert ROLE_LISTS[0].valid_from <= date(2015, 7, 1)


# --- dates that precede what they depend on ----------------------------------------------------------------------


def test_forget_before_the_enrolment_is_refused(memory_ledger: Any) -> None:
    ledger = memory_ledger
    sign(ledger)
    enrol(ledger, 5)
    err = refused(ledger, RuleViolation, "effective_on", execute, ledger,
                  ForgetMember(nik=nik(5), effective_on=date(1900, 1, 1)))
    assert "before the member's first enrolment (2025-01-06)" in err.reason
    assert execute(ledger, ForgetMember(nik=nik(5), effective_on=date(2025, 1, 6)))["personal_data_erased"]


def test_signing_in_the_future_is_refused(memory_ledger: Any) -> None:
    ledger = memory_ledger
    before = events_count(ledger)
    with pytest.raises(InvalidInput) as info:
        run(ledger, make(
            SignAgreement, agreement_id="F-1", name="x", payer_id="P", payer_type=PayerType.APBD_KOTA,
            fund_source=FundSource.APBD, region_code="61.72", first_period="2099-01", last_period="2099-06",
            budget_rp=1_000_000, effective_on=date(2099, 1, 1)))
    assert info.value.field == "effective_on" and "in the future" in info.value.reason
    assert events_count(ledger) == before


# --- cohort files ------------------------------------------------------------------------------------------------


def test_a_nul_byte_in_a_csv_name_refuses_the_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(f"nik,name,role\n{nik(5)},Si\x00ti,PETANI\n{nik(6)},Budi,PETANI\n".encode())
    read = read_cohort(path)
    assert [(line, field) for line, field, _ in read.invalid] == [(2, "name")]
    assert "\\x00" in read.invalid[0][2]
    assert [line for line, _ in read.rows] == [3]


def test_layout_whitespace_in_a_cell_is_folded_other_controls_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f'nik,name,address,role\n{nik(5)},Siti,"Jl. Panjang\r\nRT 01\t5",PETANI\n'
                    f"{nik(6)},Bu\x1b[2Jdi,,PETANI\n", encoding="utf-8")
    read = read_cohort(path)
    assert read.rows[0][1].address == "Jl. Panjang RT 01 5"
    assert [(line, field) for line, field, _ in read.invalid] == [(4, "name")]


def test_columns_not_read_are_warned(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"nik,name,role,nama_ibu\n{nik(5)},Siti,PETANI,Aminah\n{nik(6)},Budi,PETANI,,surplus\n",
                    encoding="utf-8")
    read = read_cohort(path)
    assert len(read.rows) == 2
    assert read.warnings[0].startswith("column(s) nama_ibu not read")
    assert read.warnings[1] == "line 3: 1 value(s) beyond the header's columns not read"
    plain = tmp_path / "p.csv"
    plain.write_text(f"nik,name,role\n{nik(5)},Siti,PETANI\n", encoding="utf-8")
    assert read_cohort(plain).warnings == []


def test_columns_not_read_in_a_workbook_are_warned(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["nik", "name", "role", "", "agama"])
    ws.append([nik(5), "Siti", "PETANI", "x", "Islam"])
    path = tmp_path / "c.xlsx"
    wb.save(path)
    read = read_cohort(path)
    assert read.warnings[0].startswith("column(s) agama not read")
    assert read.warnings[1].startswith("line 2: 1 value(s) beyond")


# --- bank text ---------------------------------------------------------------------------------------------------


def test_bank_text_is_neutralised_not_refused() -> None:
    line = StatementLine("a" * 64, 1, "SP2D-0001\x1b[2J", date(2026, 1, 5), 16_800, "123\u202e",
                         "iuran NIK 3171 0112 0190 0001\x9d", date(2026, 1, 5))
    parsed = ParsedStatement("a" * 64, "csv", "99\x00", date(2026, 1, 1), date(2026, 1, 31), None, None, (line,))
    fields = parsed.import_fields("PEMKOT-SKW", "rekening.csv")
    got = fields["lines"][0]
    assert got["reference"] == "SP2D-0001\\x1b[2J"
    assert got["account"] == "123\\u202e"
    assert got["description"] == f"iuran NIK {NIK_MASK}\\x9d"
    assert fields["account"] == "99\\x00"
    command = parse_command("reconcile.import", json.loads(json.dumps(fields, default=str)))
    assert command.lines[0].description == got["description"]  # type: ignore[attr-defined]
    assert from_bank(" 3171011201900001 ", mask_nik=True) == NIK_MASK
    assert from_bank("3171011201900001") == "3171011201900001"  # an account number is the bank's
    # the message itself refuses what the reader would have neutralised
    raw = json.loads(json.dumps(fields, default=str))
    raw["lines"][0]["description"] = "iuran \x1b[2J"
    refused_message("reconcile.import", raw, "lines.0.description")


# --- output ------------------------------------------------------------------------------------------------------


def test_printable_and_json_escaping() -> None:
    evil = "A\x1b[2J\x9d8;;x\x9c\u202eB\x00\x7f"
    shown = printable(evil)
    assert not any(ch in shown for ch in "\x1b\x9d\x9c\u202e\x00\x7f")
    assert shown == "A\\x1b[2J\\x9d8;;x\\x9c\\u202eB\\x00\\x7f"
    document = json_escaped(json.dumps({"name": evil, "n": [1, -2]}, indent=2, ensure_ascii=False))
    assert not any(ch in document for ch in "\x1b\x9d\x9c\u202e\x00\x7f")
    assert json.loads(document) == {"name": evil, "n": [1, -2]}  # the same data for a program
    assert "\n" in document  # its own layout is kept
    safe = terminal_safe({"name": "[link=http://evil]x[/link]" + evil, "n": 5, "rows": [["[b]y", None]]})
    assert safe["n"] == 5 and safe["rows"][0][1] is None
    assert safe["name"].startswith("\\[link=")
    assert "\x1b" not in safe["name"]


def test_csv_cells_are_escaped_and_formulas_defused_numbers_stay_numbers() -> None:
    text = csv_text(["name", "amount_rp", "note"], [
        ["=HYPERLINK(\"http://evil\")", -16_800, "-5"],
        ["+cmd|' /C calc'!A0", 16_800, "@SUM(A1)"],
        ["-1+2", 0, "Siti\x1b[2J"],
        ["Budi", -1, "+62 812"],
    ])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["'=HYPERLINK(\"http://evil\")", "-16800", "-5"]
    assert rows[2] == ["'+cmd|' /C calc'!A0", "16800", "'@SUM(A1)"]
    assert rows[3] == ["'-1+2", "0", "Siti\\x1b[2J"]
    assert rows[4] == ["Budi", "-1", "'+62 812"]
    assert spreadsheet_text("-16800") == "-16800" and spreadsheet_text("+62") == "+62"


def test_xlsx_text_is_escaped_and_never_a_formula(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    report = {"report": "members", "on": "2026-01-31", "zone": "WIB", "as_of": None,
              "generated_at": "2026-01-31T10:00:00+07:00", "agreement": None, "position": 3,
              "sections": {"people": {"columns": ["name", "amount_rp"],
                                      "rows": [["=1+2", -16_800], ["Siti\x1b[2J\u202e", 5]]}},
              "totals": {"members": 2}}
    path = tmp_path / "r.xlsx"
    write_xlsx(report, path)  # openpyxl refuses raw control characters: this used to crash
    sheet = load_workbook(path)["people"]
    values = [(c.value, c.data_type) for row in sheet.iter_rows(min_row=5, max_col=2) for c in row]
    assert values == [("=1+2", "s"), (-16_800, "n"), ("Siti\\x1b[2J\\u202e", "s"), (5, "n")]


# --- the real CLI: nothing stored reaches the terminal raw; the import warns ------------------------------------


def store_bypassing_validation(cli: Cli, monkeypatch: pytest.MonkeyPatch, *commands: Any) -> None:
    """Write commands as an old version (before the input rules) would have: their models not validated."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(cli.root / "ledger.key"))
    ledger = bootstrap(cli.url)
    try:
        for command in commands:
            run(ledger, command)
    finally:
        ledger.close()


EVIL = "Jahat\x1b[2J\x1b]0;owned\x07\x9d8;;http://evil\x9c\u202eX"
RAW = ("\x1b", "\x07", "\x9d", "\x9c", "\u202e")


def test_stored_control_characters_never_reach_the_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {"agreement_id": "EVIL-2025", "name": EVIL, "payer_id": "PEMKOT-SKW", "payer_name": EVIL,
              "payer_type": PayerType.APBD_KOTA, "fund_source": FundSource.APBD, "legal_basis": EVIL,
              "region_code": "61.72", "first_period": "2025-01", "last_period": "2025-06",
              "programmes": [Programme.JKK, Programme.JKM], "declared_income_rp": 1_000_000,
              "billing_cadence": BillingCadence.MONTHLY,
              "budget_rp": 100_000_000, "cohort_planned": 0, "effective_on": date(2025, 1, 2),
              "command_id": "evil-sign", "actor": "old-version", "kind": "agreement.sign"}
    enrolled = {"nik": nik(60), "name": EVIL, "birth_date": None, "address": EVIL, "phone": None,
                "agreement_id": "EVIL-2025", "region_code": "61.72", "village_code": None, "role": "PETANI",
                "programmes": None, "declared_income_rp": None, "effective_on": date(2025, 1, 6),
                "command_id": "evil-enrol", "actor": "old-version", "kind": "member.enrol"}
    store_bypassing_validation(cli, monkeypatch, SignAgreement.model_construct(**fields),
                               EnrolMember.model_construct(**enrolled))
    for args in (("agreement", "show", "EVIL-2025", "--on", "2025-01-31"),
                 ("member", "show", nik(60), "--reveal", "--purpose", "cek data tersimpan", "--on", "2025-01-31")):
        for as_json in ((), ("--json",)):
            run = cli(*args, *as_json)
            assert run.code == 0, str(run)
            assert not any(ch in run.out or ch in run.err for ch in RAW), repr(run.out)
            if as_json:
                shown = json.loads(run.out)  # the data itself, for a program
                assert (shown["personal"]["name"] if "personal" in shown else shown["name"]) == EVIL
            else:
                assert "Jahat\\x1b[2J" in run.out, run.out


def test_member_import_warns_of_columns_not_read_and_strict_refuses(cli: Cli) -> None:
    path = write_csv(cli.root / "extra.csv", [HEADER + ",nama_ibu", f"{nik(61)},Siti,,,,PETANI,,Aminah"])
    run = cli.refused(2, "file", "nama_ibu not read", "member", "import", str(path), "--agreement", CLI_AGREEMENT,
                      "--on", "2025-01-06", "--strict")
    run = cli("member", "import", str(path), "--agreement", CLI_AGREEMENT, "--on", "2025-01-06", "--json")
    assert run.code == 0, str(run)
    assert run.err.startswith("warning: file: column(s) nama_ibu not read"), str(run)
    assert run.json()["imported"] == 1
    assert run.json()["warnings"][0].startswith("column(s) nama_ibu not read")


def test_cli_refuses_the_issue_inputs_and_writes_nothing(cli: Cli) -> None:
    base = ["member", "enrol", "--nik", nik(62), "--agreement", CLI_AGREEMENT, "--on", "2025-01-06"]
    cli.refused(2, "name", "spaces only", *base, "--name", "   ", "--region", "61.72", "--role", "PETANI")
    cli.refused(2, "region_code", "unknown province", *base, "--name", "A", "--region", "99.99", "--role", "PETANI")
    cli.refused(2, "village_code", "not in the member's region", *base, "--name", "A", "--region", "61.72",
                "--role", "PETANI", "--village", "31.71.01.1001")
    cli.refused(2, "role", "known: ", *base, "--name", "A", "--region", "61.72",
                "--role", "'; DROP TABLE STORED_EVENTS;--")
    cli.refused(2, "birth_date", "contradicts the NIK", *base, "--name", "A", "--region", "61.72",
                "--role", "PETANI", "--birth-date", "2099-01-01")
    cli.refused(2, "name", "\\x1b", *base, "--name", "A\x1b[2J", "--region", "61.72", "--role", "PETANI")
    cli.refused(3, "effective_on", "before the member's first enrolment", "member", "forget", nik(1),
                "--on", "1900-01-01")
    cli.refused(2, "effective_on", "in the future", "agreement", "sign", "--id", "F-2099", "--name", "F",
                "--payer-id", "P", "--payer-type", "APBD_KOTA", "--fund-source", "APBD", "--region", "61.72",
                "--first-period", "2099-01", "--last-period", "2099-06", "--budget", "1000000", "--on", "2099-01-01")
