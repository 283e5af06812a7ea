"""The event catalogue. Stored events are immutable: this module is the schema that can never change.

Rules for this module:
- Classes are stored by topic ``ledger.events:ClassName``: never move or rename one. A changed shape
  gets ``class_version`` + an ``upcast_vN_vN1`` static method, never an edit in place.
- Every event carries the library's ``timestamp`` (when the object was created, real clock), the
  ``recorded_at`` time (the ledger's injectable clock), the business date it is ``effective_on``,
  the ``actor`` who caused it and the ``command_id`` of the command that decided it.
- No readable personal data: members appear by pseudonymous id; personal fields only as
  :class:`~ledger.identity.SealedPersonalData`.
- Money is whole rupiah (``*_rp: int``); periods are ``YYYY-MM`` strings.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ledger.identity import SealedPersonalData
from ledger.values import (
    BillingCadence,
    ClaimType,
    FundSource,
    LapseReason,
    PayerType,
    Period,
    Programme,
    SchoolLevel,
)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware")
    return value


def _period(value: str) -> str:
    return str(Period.parse(value))


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
PeriodStr = Annotated[str, AfterValidator(_period)]
Rupiah = Annotated[int, Field(ge=0, le=10**15, strict=True)]


class LedgerEvent(BaseModel):
    """Base of every stored event: identity, order, and the four facts of provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    class_version: ClassVar[int] = 1

    originator_id: uuid.UUID
    originator_version: int = Field(ge=1)
    timestamp: AwareDatetime
    recorded_at: AwareDatetime
    effective_on: date
    actor: str = Field(min_length=1, max_length=128)
    command_id: str = Field(min_length=1, max_length=128)


# --- Funding agreement (perjanjian pendanaan / PKS) ----------------------------------------------


class AgreementSigned(LedgerEvent):
    """A payer committed to fund a cohort's contributions over a window of periods."""

    agreement_code: str
    name: str
    payer_id: str
    payer_name: str
    payer_type: PayerType
    fund_source: FundSource
    legal_basis: str
    region_code: str
    first_period: PeriodStr
    last_period: PeriodStr
    programmes: list[Programme]
    declared_income_rp: Rupiah
    rate_per_member_month_rp: Rupiah
    billing_cadence: BillingCadence
    budget_rp: Rupiah
    cohort_planned: int = Field(ge=0)


class AgreementBudgetAmended(LedgerEvent):
    """The budget ceiling (pagu) changed, e.g. by an APBD amendment (APBD-P)."""

    budget_rp: Rupiah
    previous_budget_rp: Rupiah
    reason: str


class AgreementClosed(LedgerEvent):
    reason: str


# --- Member (peserta) -----------------------------------------------------------------------------


class MemberEnrolled(LedgerEvent):
    """A membership chain starts: first ever (with sealed personal data) or a re-join after a lapse."""

    agreement_code: str | None
    payer_id: str
    payer_type: PayerType
    fund_source: FundSource
    region_code: str
    village_code: str | None
    role: str
    programmes: list[Programme]
    declared_income_rp: Rupiah
    anchor_day: int = Field(ge=1, le=31)
    first_period: PeriodStr
    personal: SealedPersonalData | None


class ContributionPaid(LedgerEvent):
    """Contributions (iuran) for one or more consecutive periods, split per programme per period."""

    periods: list[PeriodStr] = Field(min_length=1)
    amount_rp: Rupiah
    per_period_rp: dict[Programme, Rupiah]
    payer_id: str
    payer_type: PayerType
    fund_source: FundSource
    agreement_code: str | None
    payment_reference: str


class CoverageReinstated(LedgerEvent):
    """Arrears paid late: these months are covered again."""

    periods: list[PeriodStr] = Field(min_length=1)
    payment_reference: str


class CoverageLapsed(LedgerEvent):
    """The membership chain ended; ``effective_on`` is the first day not covered by it."""

    reason: LapseReason
    last_covered_period: PeriodStr | None
    agreement_code: str | None


class PayerChanged(LedgerEvent):
    """Another payer (or the member) takes over from ``from_period`` on."""

    agreement_code: str | None
    payer_id: str
    payer_type: PayerType
    fund_source: FundSource
    from_period: PeriodStr


class ClaimFiled(LedgerEvent):
    """A claim was filed for this member (keeps one death claim per member, ever)."""

    claim_ref: str
    claim_type: ClaimType
    event_date: date


class MemberDied(LedgerEvent):
    """Death reported by a death claim; closes the member. ``effective_on`` is the date of death."""

    claim_ref: str


class ContributionRefundDue(LedgerEvent):
    """Months paid after the month of death are owed back to the payer that paid them."""

    periods: list[PeriodStr] = Field(min_length=1)
    amount_rp: Rupiah
    payer_id: str
    agreement_code: str | None
    payment_references: list[str]
    claim_ref: str


class JhtBalanceCarriedIn(LedgerEvent):
    """An old-age savings (JHT) balance brought in from earlier membership or development returns."""

    amount_rp: Rupiah
    source: str


class PersonalDataErased(LedgerEvent):
    """The member's data key was destroyed (UU 27/2022 erasure). Carries no personal data."""

    reason: str


# --- Claim (klaim) --------------------------------------------------------------------------------


class ClaimSubmitted(LedgerEvent):
    """A benefit claim with the facts the benefit rules need. ``effective_on`` is the event date."""

    claim_ref: str
    member_id: uuid.UUID
    claim_type: ClaimType
    agreement_code: str | None
    declared_income_rp: Rupiah
    months_unable: int = Field(ge=0, le=120)
    medical_cost_rp: Rupiah
    home_care_cost_rp: Rupiah
    home_care_days: int = Field(ge=0, le=3650)
    school_levels: list[SchoolLevel] = Field(max_length=2)
    death_claim_ref: str | None
    sealed_details: SealedPersonalData | None


class ClaimHeld(LedgerEvent):
    """The event date falls in an unpaid month inside the arrears window: wait for payment."""

    unpaid_periods: list[PeriodStr]


class ClaimReleased(LedgerEvent):
    """The arrears were paid: the held claim can be decided."""

    payment_reference: str


class ClaimApproved(LedgerEvent):
    """Amount fixed from the benefit table in force on the event date, with its components."""

    amount_rp: Rupiah
    components: dict[str, Rupiah]
    benefit_basis: str


class ClaimRejected(LedgerEvent):
    reason_code: str
    reason: str


class ClaimPaid(LedgerEvent):
    amount_rp: Rupiah
    payment_reference: str


# --- Region ---------------------------------------------------------------------------------------


class WorkforceRecorded(LedgerEvent):
    """The working population of a region from ``effective_on`` (the denominator of UCJ coverage)."""

    region_code: str
    workforce: int = Field(gt=0, le=200_000_000)
    source: str


# --- Reservations (uniqueness of business keys) ---------------------------------------------------


class CommandAccepted(LedgerEvent):
    """The command id was used: its payload fingerprint and result, for idempotent retries."""

    command_type: str
    payload_digest: str
    result: dict[str, object]


class PaymentReferenceUsed(LedgerEvent):
    """A payment reference (SP2D / transfer id) was spent once, by one payer, for one amount."""

    reference: str
    payer_id: str
    amount_rp: Rupiah
    purpose: str


MEMBER_EVENTS = (
    MemberEnrolled,
    ContributionPaid,
    CoverageReinstated,
    CoverageLapsed,
    PayerChanged,
    ClaimFiled,
    MemberDied,
    ContributionRefundDue,
    JhtBalanceCarriedIn,
    PersonalDataErased,
)
