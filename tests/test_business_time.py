"""Business time: "today" and "in the future" come from one function, in the zone of the region.

The command and report surface runs with the clock frozen around the hours where the calendar day differs
between UTC, WIB (UTC+7), WITA (UTC+8) and WIT (UTC+9); the dates fall on the last day of February, so a
zone's new day is also a new month (a payment at 00:30 WITA on 1 March is a March payment in Kendari).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.app import app
from commands.messages import (
    ApproveClaim,
    BillAgreement,
    EnrolMember,
    PayClaim,
    PayContribution,
    SignAgreement,
    SubmitClaim,
    Sweep,
)
from eventstore.bootstrap import bootstrap
from eventstore.clock import SimulatedClock
from ledger.business_time import WIB, WIT, WITA, business_day, zone_name
from ledger.errors import InvalidInput
from ledger.values import ClaimType, FundSource, PayerType
from tests.conftest import nik, run

INSTANTS = {
    "00:00 WIT": datetime(2026, 2, 28, 15, 0, tzinfo=UTC),
    "00:00 WITA": datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
    "00:30 WITA": datetime(2026, 2, 28, 16, 30, tzinfo=UTC),
    "16:59 UTC": datetime(2026, 2, 28, 16, 59, tzinfo=UTC),
    "17:00 UTC = 00:00 WIB": datetime(2026, 2, 28, 17, 0, tzinfo=UTC),
    "23:59 UTC": datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
    "00:00 UTC": datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
}
SKW, KDI = "SKW-ZONE-2026", "KDI-ZONE-2026"
REGION = {SKW: "61.72", KDI: "74.71"}


def local_day(instant: datetime, zone: Any) -> date:
    return instant.astimezone(zone).date()


# --- the rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "zone"), [
    ("61.72", "WIB"), ("61.07.01.2001", "WIB"), ("31.71", "WIB"), ("74.71", "WITA"), ("51", "WITA"),
    ("64.72", "WITA"), ("81.71", "WIT"), ("91.71", "WIT"), ("96.01", "WIT"), (None, "WIB"),
])
def test_zone_of_a_region_comes_from_its_province(region: str | None, zone: str) -> None:
    assert zone_name(region, INSTANTS["00:00 WIT"]) == zone


@pytest.mark.parametrize("region", ["99.99", "00", "x1.72", ""])
def test_a_province_without_a_zone_is_refused_naming_the_region(region: str) -> None:
    with pytest.raises(InvalidInput) as info:
        business_day(INSTANTS["00:00 WIT"], None, [region])
    assert info.value.field == "region_code"


@pytest.mark.parametrize("name", list(INSTANTS))
def test_default_day_is_never_refused_and_the_next_day_always_is(name: str) -> None:
    instant = INSTANTS[name]
    for region, zone in (("61.72", WIB), ("74.71", WITA), ("91.71", WIT), (None, WIB)):
        for question in (False, True):
            today = business_day(instant, None, [region], question=question)
            assert today.on == local_day(instant, zone)
            assert business_day(instant, today.on, [region], question=question).on == today.on
            with pytest.raises(InvalidInput, match="in the future"):
                business_day(instant, local_day(instant, WIT) + timedelta(days=1), [region], question=question)


def test_a_national_question_may_ask_about_a_day_begun_anywhere_a_national_decision_not() -> None:
    instant = INSTANTS["00:00 WIT"]  # 1 March in Papua, 28 February in Jakarta
    papua_day = local_day(instant, WIT)
    assert business_day(instant, papua_day, [None], question=True).on == papua_day
    with pytest.raises(InvalidInput, match="has not begun everywhere in Indonesia"):
        business_day(instant, papua_day, [None], field="effective_on")
    with pytest.raises(InvalidInput, match=r"has not begun in WIB \(today is 2026-02-28 WIB\)"):
        business_day(instant, papua_day, ["61.72"], field="effective_on")


# --- the whole surface, frozen ------------------------------------------------------------------------


def _ledger_at(tmp_path: Path, instant: datetime) -> str:
    """Two agreements (Singkawang, WIB; Kendari, WITA), a member each, every command given without --on."""
    url = f"sqlite:///{tmp_path / 'zones.db'}"
    ledger = bootstrap(url, clock=SimulatedClock(instant))
    try:
        for code, payer in ((SKW, "PEMKOT-SKW"), (KDI, "BAZNAS-KDI")):
            run(ledger, SignAgreement(
                agreement_id=code, name=f"Zone test {code}", payer_id=payer, payer_type=PayerType.BAZNAS,
                fund_source=FundSource.ZIS, region_code=REGION[code], first_period="2026-01",
                last_period="2026-12", budget_rp=500_000_000))
            run(ledger, EnrolMember(nik=nik(1, REGION[code].replace(".", "")), name="Pekerja",
                                                 region_code=REGION[code], role="PETANI", agreement_id=code))
    finally:
        ledger.close()
    return url


@pytest.fixture(params=list(INSTANTS))
def frozen(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[datetime, str]:
    instant = INSTANTS[request.param]
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "zones.key"))
    url = _ledger_at(tmp_path, instant)
    monkeypatch.setenv("JAMSOS_STORE", url)
    monkeypatch.setenv("JAMSOS_CLOCK", instant.isoformat())
    return instant, url


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return json.loads(result.stdout)


def test_every_command_and_report_takes_today_in_its_own_zone(frozen: tuple[datetime, str]) -> None:
    instant, url = frozen
    wib, wita = local_day(instant, WIB), local_day(instant, WITA)
    own = {SKW: wib, KDI: wita}
    ledger = bootstrap(url, clock=SimulatedClock(instant))
    try:
        for code in (SKW, KDI):
            member_nik = nik(1, REGION[code].replace(".", ""))
            period = f"{own[code]:%Y-%m}"
            paid = run(ledger, PayContribution(nik=member_nik, periods=[period], amount_rp=16_800,
                                                            payment_reference=f"REF-{code}"))
            assert paid["periods"] == [period]
            assert not paid["reinstated"]  # the month of the member's own business day: not a late payment
            billed = run(ledger, BillAgreement(agreement_id=code, period=period))
            assert billed["periods"] == [period]
            claim = run(ledger, SubmitClaim(claim_id=f"C-{code}", nik=member_nik,
                                                         claim_type=ClaimType.JKM_DEATH, event_date=own[code]))
            assert claim["status"] == "SUBMITTED", claim
            run(ledger, ApproveClaim(claim_id=f"C-{code}"))
            run(ledger, PayClaim(claim_id=f"C-{code}", payment_reference=f"PAYOUT-{code}"))
        swept = run(ledger, Sweep())
        assert swept["on"] == wib.isoformat()
        assert swept["on_by_zone"]["WITA"] == wita.isoformat()
    finally:
        ledger.close()
    # every event carries its region's business day
    trail = {code: cli("audit", "trail", "--agreement", code)["rows"] for code in (SKW, KDI)}
    for code in (SKW, KDI):
        assert {row["effective_on"] for row in trail[code]} == {own[code].isoformat()}, trail[code]
    for code in (SKW, KDI):
        shown = cli("agreement", "show", code)
        assert shown["on"] == own[code].isoformat()
        assert shown["contributions_paid_rp"] == 16_800
        member = cli("member", "show", nik(1, REGION[code].replace(".", "")))
        assert member["coverage"]["on"] == own[code].isoformat()
    for name in ("members", "balances", "claims", "coverage", "audit", "trial-balance"):
        report = cli("report", name)
        assert (report["on"], report["zone"]) == (wib.isoformat(), "WIB"), name
    for code in (SKW, KDI):
        for name in ("reconciliation", "balances", "claims"):
            report = cli("report", name, "--agreement", code)
            assert report["on"] == own[code].isoformat(), (name, code)
            assert report["zone"] == ("WITA" if code == KDI else "WIB")
        claims = cli("report", "claims", "--agreement", code)
        assert claims["totals"]["paid_rp"] == 42_000_000
    assert cli("check")["on"] == wib.isoformat()


def test_a_day_begun_only_in_kendari_is_refused_for_singkawang(frozen: tuple[datetime, str]) -> None:
    instant, url = frozen
    wib, wita = local_day(instant, WIB), local_day(instant, WITA)
    ledger = bootstrap(url, clock=SimulatedClock(instant))
    try:
        if wita > wib:  # 16:00-17:00 UTC: 1 March in Kendari, still 28 February in Singkawang
            with pytest.raises(InvalidInput, match="in the future") as info:
                run(ledger, PayContribution(nik=nik(1, "6172"), periods=["2026-03"], amount_rp=16_800,
                                                         payment_reference="R-SKW-EARLY", effective_on=wita))
            assert info.value.field == "effective_on"
        run(ledger, PayContribution(nik=nik(1, "7471"), periods=[f"{wita:%Y-%m}"], amount_rp=16_800,
                                                 payment_reference="R-KDI", effective_on=wita))
        with pytest.raises(InvalidInput, match="in the future"):
            run(ledger, PayContribution(nik=nik(1, "7471"), periods=["2026-04"], amount_rp=16_800,
                                                     payment_reference="R-KDI-2", effective_on=wita + timedelta(1)))
    finally:
        ledger.close()
    result = CliRunner().invoke(app, ["report", "members", "--agreement", SKW, "--on", wita.isoformat(), "--json"])
    assert result.exit_code == (0 if wita == wib else 2), result.output
    assert CliRunner().invoke(app, ["report", "members", "--agreement", KDI, "--on", wita.isoformat()]).exit_code == 0
