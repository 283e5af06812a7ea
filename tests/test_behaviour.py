"""The behavioural suite: every command through ``execute``, on memory, SQLite and PostgreSQL.

Each bad input asserts the error names the field *and* that no event was written.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from commands.messages import (
    ApproveClaim,
    CohortRow,
    EnrolMember,
    ForgetMember,
    ImportCohort,
    PayClaim,
    PayCohort,
    PayContribution,
    RejectClaim,
    SignAgreement,
    SubmitClaim,
    Sweep,
    make,
)
from eventstore.bootstrap import Ledger
from ledger.claim import Claim, claim_id_for
from ledger.errors import (
    AlreadyDone,
    IdempotencyConflict,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
)
from ledger.values import BillingCadence, ClaimStatus, ClaimType, FundSource, PayerType
from tests.conftest import agreement_view, at, events_count, execute, member_view, nik

AGREEMENT = "SKW-TEST-2025"


def sign(ledger: Ledger, code: str = AGREEMENT, first: str = "2025-01", last: str = "2025-06", **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "agreement_id": code, "name": "Test scheme", "payer_id": "PEMKOT-SKW", "payer_name": "Pemkot Singkawang",
        "payer_type": PayerType.APBD_KOTA, "fund_source": FundSource.APBD, "region_code": "61.72",
        "first_period": first,
        "last_period": last, "budget_rp": 100_000_000, "billing_cadence": BillingCadence.MONTHLY,
        "effective_on": date(2025, 1, 2), "command_id": f"sign-{code}",
    }
    fields.update(extra)
    return execute(ledger, SignAgreement(**fields))


def enrol(ledger: Ledger, i: int, code: str | None = AGREEMENT, on: date = date(2025, 1, 6), **extra: Any) -> Any:
    fields: dict[str, Any] = {"nik": nik(i), "name": f"Worker {i}", "region_code": "61.72", "role": "PETANI",
                                  "agreement_id": code, "effective_on": on}
    fields.update(extra)
    return execute(ledger, EnrolMember(**fields))


def pay(ledger: Ledger, i: int, periods: list[str], amount: int, ref: str, on: date = date(2025, 1, 7),
        **extra: Any) -> Any:
    return execute(ledger, PayContribution(nik=nik(i), periods=periods, amount_rp=amount, payment_reference=ref,
                                           effective_on=on, **extra))


def refused(ledger: Ledger, error: type[LedgerError], field: str, fn: Any, *args: Any, **kw: Any) -> LedgerError:
    """Assert ``fn`` raises ``error`` naming ``field`` and writes no event."""
    before = events_count(ledger)
    with pytest.raises(error) as info:
        fn(*args, **kw)
    assert info.value.field == field, f"expected field {field!r}, got {info.value.field!r}: {info.value}"
    assert events_count(ledger) == before, "a refused command wrote events"
    return info.value


# --- agreements and enrolment -----------------------------------------------------------------------


def test_sign_takes_rate_from_tariff(ledger: Ledger) -> None:
    result = sign(ledger)
    assert result["rate_per_member_month_rp"] == 16_800
    view = agreement_view(ledger, AGREEMENT, date(2025, 1, 31), None)
    assert view["window"] == "2025-01..2025-06"
    assert view["budget_rp"] == 100_000_000


def test_enrol_then_pay_covers_member(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    result = pay(ledger, 1, ["2025-01"], 16_800, "SP2D-1")
    assert result["amount_rp"] == 16_800
    view = member_view(ledger, nik(1), date(2025, 1, 20), None)
    assert view["coverage"]["covered"] is True
    assert view["spells"][0]["paid_through"] == "2025-01"


@pytest.mark.parametrize(
    ("bad_nik", "fragment"),
    [
        ("617201010160001", "16 digits"),  # 15 digits
        ("61720101016000011", "16 digits"),  # 17 digits
        ("6172010101A00001", "digits only"),
        ("6172013213600001", "not a real date"),  # day 32
        ("6172013002600001", "not a real date"),  # 30 February
        ("6172010101600000", "0000"),
    ],
)
def test_bad_nik_is_refused(ledger: Ledger, bad_nik: str, fragment: str) -> None:
    sign(ledger)
    before = events_count(ledger)
    with pytest.raises(InvalidInput) as info:
        make(EnrolMember, nik=bad_nik, name="X", region_code="61.72", role="PETANI", agreement_id=AGREEMENT)
    assert info.value.field == "nik"
    assert fragment in info.value.reason
    assert events_count(ledger) == before


def test_same_nik_twice_in_agreement_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    err = refused(ledger, AlreadyDone, "nik", enrol, ledger, 1)
    assert AGREEMENT in err.reason


def test_enrol_unknown_agreement_is_refused(ledger: Ledger) -> None:
    refused(ledger, NotFound, "agreement_id", enrol, ledger, 1, code="NOPE-2025")


# --- payments: bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -16_800])
def test_amount_zero_or_negative_is_refused(ledger: Ledger, amount: int) -> None:
    sign(ledger)
    enrol(ledger, 1)
    err = refused(ledger, InvalidInput, "amount_rp", make, PayContribution, nik=nik(1), periods=["2025-01"],
                  amount_rp=amount, payment_reference="R")
    assert "greater than 0" in err.reason


@pytest.mark.parametrize("amount", [16800.5, 16800.0, "16.800", "16,800"])
def test_fractional_or_formatted_amount_is_refused(ledger: Ledger, amount: Any) -> None:
    err = refused(ledger, InvalidInput, "amount_rp", make, PayContribution, nik=nik(1), periods=["2025-01"],
                  amount_rp=amount, payment_reference="R")
    assert "whole rupiah" in err.reason


def test_amount_not_matching_tariff_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    err = refused(ledger, RuleViolation, "amount_rp", pay, ledger, 1, ["2025-01", "2025-02"], 16_800, "R1")
    assert "Rp33.600" in err.reason


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-01", "2026/01", ""])
def test_malformed_period_is_refused(period: str) -> None:
    with pytest.raises(InvalidInput) as info:
        make(PayContribution, nik=nik(1), periods=[period], amount_rp=16_800, payment_reference="R")
    assert info.value.field == "periods"


def test_period_outside_window_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-06"], 6 * 16_800, "R0")
    err = refused(ledger, RuleViolation, "periods", pay, ledger, 1, ["2025-07"], 16_800, "R1", on=date(2025, 6, 20))
    assert "window" in err.reason


def test_period_before_enrolment_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1, on=date(2025, 3, 10))
    err = refused(ledger, RuleViolation, "periods", pay, ledger, 1, ["2025-02"], 16_800, "R1", on=date(2025, 3, 11))
    assert "before enrolment" in err.reason


def test_period_already_paid_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    err = refused(ledger, AlreadyDone, "periods", pay, ledger, 1, ["2025-01"], 16_800, "R2")
    assert "already paid" in err.reason


def test_payment_reference_reused_with_other_amount_or_payer_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    sign(ledger, code="BKY-TEST-2025", payer_id="PEMKAB-BKY", payer_type=PayerType.APBD_KAB, region_code="61.07")
    enrol(ledger, 1)
    enrol(ledger, 2)
    enrol(ledger, 3, code="BKY-TEST-2025")
    pay(ledger, 1, ["2025-01"], 16_800, "SP2D-77")
    err = refused(ledger, AlreadyDone, "payment_reference", pay, ledger, 2, ["2025-01", "2025-02"], 33_600, "SP2D-77")
    assert "PEMKOT-SKW" in err.reason
    refused(ledger, AlreadyDone, "payment_reference", pay, ledger, 3, ["2025-01"], 16_800, "SP2D-77")


def test_payer_mismatch_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    refused(ledger, RuleViolation, "payer_id", pay, ledger, 1, ["2025-01"], 16_800, "R1", payer_id="SOMEONE-ELSE")


# --- idempotency ------------------------------------------------------------------------------------


def test_same_command_id_same_payload_returns_original_result(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    first = pay(ledger, 1, ["2025-01"], 16_800, "R1", command_id="cmd-1")
    before = events_count(ledger)
    again = pay(ledger, 1, ["2025-01"], 16_800, "R1", command_id="cmd-1")
    assert again["replayed"] is True
    assert {k: v for k, v in again.items() if k != "replayed"} == first
    assert events_count(ledger) == before


def test_same_command_id_other_payload_is_conflict(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1", command_id="cmd-1")
    refused(ledger, IdempotencyConflict, "command_id", pay, ledger, 1, ["2025-02"], 16_800, "R2", command_id="cmd-1")


# --- arrears, lapses, sweep -------------------------------------------------------------------------


def test_arrears_paid_late_reinstate_and_lapse_after_three_unpaid_months(ledger: Ledger, clock: Any) -> None:
    sign(ledger, code="SELFISH", last="2025-12")
    enrol(ledger, 1, code="SELFISH")
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    # February and March unpaid; paying them in April reinstates them
    result = pay(ledger, 1, ["2025-02", "2025-03"], 33_600, "R2", on=date(2025, 4, 2))
    assert result["reinstated"] == ["2025-02", "2025-03"]
    # April..July unpaid: the 4th unpaid month (July) starting lapses the membership
    assert execute(ledger, Sweep(effective_on=date(2025, 6, 30)))["lapsed"] == {}
    at(clock, date(2025, 7, 1))
    assert execute(ledger, Sweep(effective_on=date(2025, 7, 1)))["lapsed"] == {"ARREARS": 1}
    before = events_count(ledger)
    assert execute(ledger, Sweep(effective_on=date(2025, 7, 1)))["lapsed"] == {}
    assert events_count(ledger) == before + 1  # only the new sweep's command record
    view = member_view(ledger, nik(1), date(2025, 7, 2), None)
    assert view["spells"][0]["lapse_reason"] == "ARREARS"
    assert view["spells"][0]["lapsed_on"] == "2025-07-01"
    refused(ledger, RuleViolation, "member", pay, ledger, 1, ["2025-04"], 16_800, "R3", on=date(2025, 7, 2))


def test_funding_end_lapses_cohort_and_rejoin_starts_new_chain(ledger: Ledger) -> None:
    sign(ledger, last="2025-02")
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01", "2025-02"], 33_600, "R1")
    assert execute(ledger, Sweep(effective_on=date(2025, 3, 1)))["lapsed"] == {"FUNDING_ENDED": 1}
    sign(ledger, code="SKW-NEXT", first="2025-05", last="2025-12")
    enrol(ledger, 1, code="SKW-NEXT", on=date(2025, 5, 3))
    view = member_view(ledger, nik(1), date(2025, 4, 15), None)
    assert len(view["spells"]) == 2
    assert view["coverage"]["covered"] is False  # the gap stays uncovered
    assert view["spells"][1]["first_period"] == "2025-05"


# --- claims ------------------------------------------------------------------------------------------


def submit(ledger: Ledger, claim_id: str, i: int, ctype: ClaimType, event_date: date, on: date, **extra: Any) -> Any:
    return execute(ledger, SubmitClaim(claim_id=claim_id, nik=nik(i), claim_type=ctype, event_date=event_date,
                                       effective_on=on, **extra))


def test_death_claim_pays_42m_and_refunds_later_months_to_payer(ledger: Ledger) -> None:
    sign(ledger, last="2025-12", billing_cadence=BillingCadence.ANNUAL)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-12"], 12 * 16_800, "SP2D-Y")
    result = submit(ledger, "C-1", 1, ClaimType.JKM_DEATH, date(2025, 5, 14), date(2025, 5, 20))
    assert result["status"] == "SUBMITTED"
    approved = execute(ledger, ApproveClaim(claim_id="C-1", effective_on=date(2025, 5, 28)))
    assert approved["amount_rp"] == 42_000_000
    assert approved["components"] == {"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000}
    paid = execute(ledger, PayClaim(claim_id="C-1", payment_reference="PAYOUT-1", effective_on=date(2025, 6, 3)))
    assert paid["status"] == "PAID"
    view = member_view(ledger, nik(1), None, None)
    assert view["refund_due_rp"] == 7 * 16_800
    assert {r["payer_id"] for r in view["refunds_due"]} == {"PEMKOT-SKW"}
    assert view["died_on"] == "2025-05-14"


def test_second_death_claim_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    submit(ledger, "C-1", 1, ClaimType.JKM_DEATH, date(2025, 1, 14), date(2025, 1, 20))
    refused(ledger, AlreadyDone, "claim_type", submit, ledger, "C-2", 1, ClaimType.JKK_DEATH, date(2025, 1, 14),
            date(2025, 1, 21))


def test_claim_for_unknown_member_is_refused(ledger: Ledger) -> None:
    sign(ledger)
    refused(ledger, NotFound, "nik", submit, ledger, "C-9", 99, ClaimType.JKM_DEATH, date(2025, 1, 14),
            date(2025, 1, 20))


def test_claim_in_unpaid_month_is_held_then_released_by_payment(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    held = submit(ledger, "C-H", 1, ClaimType.JKK_MEDICAL, date(2025, 2, 10), date(2025, 2, 12),
                  medical_cost_rp=5_000_000)
    assert held["status"] == "HELD"
    refused(ledger, RuleViolation, "claim_id", execute, ledger, ApproveClaim(claim_id="C-H"))
    result = pay(ledger, 1, ["2025-02"], 16_800, "R2", on=date(2025, 2, 15))
    assert result["claims_released"] == ["C-H"]
    assert execute(ledger, ApproveClaim(claim_id="C-H", effective_on=date(2025, 2, 16)))["amount_rp"] == 5_000_000


def test_a_back_dated_sweep_rejects_a_held_claim_from_the_day_it_was_held(ledger: Ledger, clock: Any) -> None:
    sign(ledger, last="2025-12")
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-03"], 3 * 16_800, "R1")
    at(clock, date(2025, 7, 10))
    held = submit(ledger, "C-L", 1, ClaimType.JKK_MEDICAL, date(2025, 7, 8), date(2025, 7, 10),
                  medical_cost_rp=1_000_000)
    assert held["status"] == "HELD"
    # the sweep of 1 July, run late: the member lapsed (April..July unpaid) before the claim was held
    assert execute(ledger, Sweep(effective_on=date(2025, 7, 1)))["claims_rejected"] == 1
    claim = ledger.store.load(Claim, claim_id_for("C-L"))
    assert claim.state.status is ClaimStatus.REJECTED
    rejected = [orjson.loads(state) for _, aggregate_id, _, topic, state in ledger.store.read_log(0, 10_000)
                if aggregate_id == str(claim.id) and topic.endswith("ClaimRejected")]
    assert [r["effective_on"] for r in rejected] == ["2025-07-10"]


def test_claim_outside_coverage_is_rejected_with_reason(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1, on=date(2025, 3, 5))
    result = submit(ledger, "C-X", 1, ClaimType.JKM_DEATH, date(2025, 2, 1), date(2025, 3, 6))
    assert result["status"] == "REJECTED"
    assert result["reason_code"] == "NOT_COVERED"


def test_jkk_claim_expires_after_five_years(ledger: Ledger, clock: Any) -> None:
    sign(ledger, first="2025-01", last="2029-12")
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    at(clock, date(2030, 2, 1))
    result = submit(ledger, "C-OLD", 1, ClaimType.JKK_STMB, date(2025, 1, 10), date(2030, 1, 11), months_unable=2)
    assert result["reason_code"] == "EXPIRED"


def test_reject_and_pay_require_the_right_status(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    submit(ledger, "C-1", 1, ClaimType.JKK_MEDICAL, date(2025, 1, 10), date(2025, 1, 12), medical_cost_rp=1_000_000)
    refused(ledger, RuleViolation, "claim_id", execute, ledger, PayClaim(claim_id="C-1", payment_reference="P1"))
    execute(ledger, RejectClaim(claim_id="C-1", reason_code="DOCUMENTS", reason="no hospital letter"))
    refused(ledger, RuleViolation, "claim_id", execute, ledger, ApproveClaim(claim_id="C-1"))


# --- bulk paths ---------------------------------------------------------------------------------------


def rows(first: int, n: int) -> list[tuple[int, CohortRow]]:
    return [(k + 2, CohortRow(nik=nik(first + k), name=f"W{first + k}", role="NELAYAN")) for k in range(n)]


def test_import_and_pay_cohort(ledger: Ledger) -> None:
    sign(ledger)
    result = execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows(100, 50), effective_on=date(2025, 1, 6)))
    assert result["imported"] == 50
    paid = execute(ledger, PayCohort(agreement_id=AGREEMENT, periods=["2025-01"], amount_rp=50 * 16_800,
                                     payment_reference="SP2D-C1", effective_on=date(2025, 1, 7)))
    assert paid["members_paid"] == 50
    refused(ledger, RuleViolation, "amount_rp", execute, ledger,
            PayCohort(agreement_id=AGREEMENT, periods=["2025-02"], amount_rp=49 * 16_800,
                      payment_reference="SP2D-C2", effective_on=date(2025, 2, 3)))
    view = agreement_view(ledger, AGREEMENT, date(2025, 1, 31), None)
    assert view["members_covered_on"] == 50
    assert view["contributions_paid_rp"] == 50 * 16_800


def test_import_with_bad_rows_imports_nothing_and_lists_lines(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 100)
    good = rows(100, 5)  # line 2 (nik 100) is already enrolled
    dup = (7, CohortRow(nik=nik(101), name="dup", role="X"))  # duplicate of line 3
    cmd = ImportCohort(agreement_id=AGREEMENT, rows=[*good, dup], invalid_rows=[(8, "nik", "must be 16 digits")],
                       effective_on=date(2025, 1, 6))
    err = refused(ledger, InvalidInput, "rows", execute, ledger, cmd)
    lines = sorted(e.line for e in err.errors)  # type: ignore[attr-defined]
    assert lines == [2, 7, 8]
    skipped = execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=[*good, dup],
                                           invalid_rows=[(8, "nik", "must be 16 digits")], skip_invalid=True,
                                           effective_on=date(2025, 1, 6)))
    assert skipped["imported"] == 4
    assert [r["line"] for r in skipped["rejected"]] == [2, 7, 8]


def test_sweep_is_idempotent_for_a_date(ledger: Ledger) -> None:
    sign(ledger, last="2025-01")
    execute(ledger, ImportCohort(agreement_id=AGREEMENT, rows=rows(200, 10), effective_on=date(2025, 1, 6)))
    assert execute(ledger, Sweep(effective_on=date(2025, 2, 10)))["lapsed"] == {"FUNDING_ENDED": 10}
    assert execute(ledger, Sweep(effective_on=date(2025, 2, 10)))["lapsed"] == {}


# --- personal data -------------------------------------------------------------------------------------


def test_forget_makes_personal_data_unreadable_but_keeps_totals(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01"], 16_800, "R1")
    before = member_view(ledger, nik(1), date(2025, 1, 15), None, reveal=True)
    assert before["personal"]["name"] == "Worker 1"
    execute(ledger, ForgetMember(nik=nik(1)))
    after = member_view(ledger, nik(1), date(2025, 1, 15), None, reveal=True)
    assert after["personal"].startswith("erased")
    assert after["contributions_paid_rp"] == before["contributions_paid_rp"] == 16_800
    assert agreement_view(ledger, AGREEMENT, date(2025, 1, 15), None)["contributions_paid_rp"] == 16_800


def test_self_paying_member_is_anchored_on_registration_day(ledger: Ledger) -> None:
    enrol(ledger, 7, code=None, on=date(2025, 3, 15), declared_income_rp=2_000_000)
    result = pay(ledger, 7, ["2025-03"], 26_800, "SELF-1", on=date(2025, 3, 15))
    assert result["amount_rp"] == 20_000 + 6_800
    assert member_view(ledger, nik(7), date(2025, 4, 14), None)["coverage"]["covered"] is True
    assert member_view(ledger, nik(7), date(2025, 4, 15), None)["coverage"]["covered"] is False
    held = submit(ledger, "C-S", 7, ClaimType.JKK_MEDICAL, date(2025, 4, 16), date(2025, 4, 17),
                  medical_cost_rp=2_000_000)
    assert held["status"] == "HELD"
    refused(ledger, InvalidInput, "declared_income_rp", enrol, ledger, 8, code=None)


def test_payer_change_moves_later_periods_to_the_new_agreement(ledger: Ledger) -> None:
    from commands.messages import ChangePayer

    sign(ledger, last="2025-12")
    sign(ledger, code="BAZNAS-TEST", payer_id="BAZNAS-X", payer_type=PayerType.BAZNAS, fund_source=FundSource.ZIS,
         last="2025-12")
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01", "2025-02"], 33_600, "R1")
    execute(ledger, ChangePayer(nik=nik(1), agreement_id="BAZNAS-TEST", from_period="2025-03",
                                effective_on=date(2025, 2, 20)))
    refused(ledger, RuleViolation, "payer_id", pay, ledger, 1, ["2025-03"], 16_800, "R2", payer_id="PEMKOT-SKW",
            on=date(2025, 3, 2))
    result = pay(ledger, 1, ["2025-03"], 16_800, "R3", payer_id="BAZNAS-X", on=date(2025, 3, 2))
    assert result["periods"] == ["2025-03"]
    view = member_view(ledger, nik(1), date(2025, 3, 10), None)
    assert view["coverage"]["payer_id"] == "BAZNAS-X"
    refused(ledger, RuleViolation, "from_period", execute, ledger,
            ChangePayer(nik=nik(1), agreement_id=AGREEMENT, from_period="2025-02", effective_on=date(2025, 3, 3)))


def test_rejected_death_claim_leaves_the_member_alive_and_allows_another(ledger: Ledger) -> None:
    sign(ledger)
    enrol(ledger, 1)
    pay(ledger, 1, ["2025-01..2025-03"], 3 * 16_800, "R1")
    submit(ledger, "D-1", 1, ClaimType.JKM_DEATH, date(2025, 1, 20), date(2025, 1, 22))
    execute(ledger, RejectClaim(claim_id="D-1", reason_code="FRAUD", reason="the member is alive"))
    view = member_view(ledger, nik(1), None, None)
    assert view["died_on"] is None and view["refund_due_rp"] == 0
    pay(ledger, 1, ["2025-04"], 16_800, "R2", on=date(2025, 4, 2))
    submit(ledger, "D-2", 1, ClaimType.JKM_DEATH, date(2025, 4, 10), date(2025, 4, 12))
    execute(ledger, ApproveClaim(claim_id="D-2", effective_on=date(2025, 4, 20)))
    assert member_view(ledger, nik(1), None, None)["died_on"] == "2025-04-10"
    refused(ledger, AlreadyDone, "claim_type", submit, ledger, "D-3", 1, ClaimType.JKK_DEATH, date(2025, 4, 10),
            date(2025, 4, 21))
