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
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ledger.business_time import WIB
from ledger.identity import SealedPersonalData
from ledger.values import (
    BillingCadence,
    BudgetStatus,
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


class AgreementBudgetAmendmentProposed(LedgerEvent):
    """A budget amendment above the four-eyes threshold, waiting for a second budget owner's confirmation."""

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
    """Months paid after the month of death are owed back to the payer that paid them.

    v2 adds ``per_programme_rp`` (which programme funds give the money back, for the journal); a v1 event
    reads with an empty split (the journal then books it to the unsplit fund account)."""

    class_version: ClassVar[int] = 2

    periods: list[PeriodStr] = Field(min_length=1)
    amount_rp: Rupiah
    payer_id: str
    agreement_code: str | None
    payment_references: list[str]
    claim_ref: str
    per_programme_rp: dict[Programme, Rupiah]

    @staticmethod
    def upcast_v1_v2(data: dict[str, object]) -> dict[str, object]:
        return {**data, "per_programme_rp": {}}


class ContributionRefundSettled(LedgerEvent):
    """A refund due was paid back to its payer (pengembalian iuran), with the transfer's reference."""

    claim_ref: str
    payer_id: str
    agreement_code: str | None
    amount_rp: Rupiah
    payment_reference: str


class JhtBalanceCarriedIn(LedgerEvent):
    """An old-age savings (JHT) balance brought in from earlier membership or development returns."""

    amount_rp: Rupiah
    source: str


class PersonalDataErased(LedgerEvent):
    """The member's data key was destroyed (UU 27/2022 erasure). Carries no personal data."""

    reason: str


# --- Claim (klaim) --------------------------------------------------------------------------------


class ClaimSubmitted(LedgerEvent):
    """A benefit claim with the facts the benefit rules need.

    v2: ``effective_on`` is the business day the claim was submitted and ``event_date`` the day of the death,
    accident or diagnosis. v1 kept the event date in ``effective_on`` and no submission day: its upcast takes
    the day it was recorded (in WIB) as the submission day, which is what the ledger knew of it."""

    class_version: ClassVar[int] = 2

    event_date: date
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

    @staticmethod
    def upcast_v1_v2(data: dict[str, object]) -> dict[str, object]:
        recorded = datetime.fromisoformat(str(data["recorded_at"])).astimezone(WIB).date()
        return {**data, "event_date": data["effective_on"], "effective_on": recorded.isoformat()}


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


# --- Money: invoices (tagihan), bank statements (rekening koran), reconciliation ------------------


class InvoiceLine(BaseModel):
    """One period of an invoice: member-months expected × the rate of each programme."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: PeriodStr
    members: int = Field(ge=0, le=100_000_000)
    per_programme_rp: dict[Programme, Rupiah]
    amount_rp: Rupiah


class InvoiceIssued(LedgerEvent):
    """An invoice (tagihan) to the agreement's payer for one or more periods (its billing cadence)."""

    invoice_ref: str
    agreement_code: str
    payer_id: str
    periods: list[PeriodStr] = Field(min_length=1)
    lines: list[InvoiceLine] = Field(min_length=1)
    amount_rp: Rupiah
    projected_cost_rp: Rupiah
    """Expected cost of the whole window as known when billing (past periods as billed/expected, later
    ones with the cohort of today)."""
    budget_rp: Rupiah
    budget_status: BudgetStatus


class StatementLineRecord(BaseModel):
    """One credit line of a payer's bank statement: an SP2D transfer to BPJS.

    ``booked_on`` is the booking (entry) date, the one the statement period counts and matching uses;
    ``value_on`` the value date (*tanggal valuta*) as the bank wrote it (lines recorded before it was kept
    read with ``value_on == booked_on``, see :meth:`StatementLinesRecorded.upcast_v1_v2`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_no: int = Field(ge=1)
    reference: str = Field(min_length=1, max_length=64)
    booked_on: date
    amount_rp: Rupiah
    account: str = Field(max_length=64)
    description: str = Field(max_length=500)
    value_on: date


class StatementImported(LedgerEvent):
    """A statement file was recorded once (its id is the SHA-256 of the raw bytes); lines follow in
    ``StatementLinesRecorded`` chunks."""

    statement_id: str = Field(min_length=64, max_length=64)
    payer_id: str
    file_name: str
    file_format: str
    account: str | None
    period_start: date
    period_end: date
    opening_rp: int | None
    closing_rp: int | None
    line_count: int = Field(ge=0)
    total_rp: Rupiah


class StatementLinesRecorded(LedgerEvent):
    """A chunk of a statement's credit lines.

    v2 adds each line's ``value_on`` (the value date beside the booking date); a v1 line had only the one date,
    read from the MT940 value date or the CSV/XLSX date column, and reads with ``value_on = booked_on``."""

    class_version: ClassVar[int] = 2

    lines: list[StatementLineRecord] = Field(min_length=1)

    @staticmethod
    def upcast_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "lines": [{**line, "value_on": line["booked_on"]} for line in data["lines"]]}


class Allocation(BaseModel):
    """Part of a transfer applied to one invoice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_ref: str
    agreement_code: str
    amount_rp: Rupiah


class MatchRule(StrEnum):
    """Which step of the cascade matched a line (``ledger.reconciliation``), or an operator by hand."""

    REFERENCE_AMOUNT = "REFERENCE_AMOUNT"
    """The line names the invoice number(s), and the amount equals their outstanding (sum)."""
    AMOUNT_DATE_WINDOW = "AMOUNT_DATE_WINDOW"
    """No invoice named; exactly one open invoice has this outstanding and was issued in the window."""
    GROUPED = "GROUPED"
    """One transfer pays several invoices: named in the line, or a contiguous run found by the sum."""
    BY_HAND = "BY_HAND"
    """An operator resolved an exception by matching it (``ReconciliationExceptionResolved``)."""


class LineMatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line_no: int = Field(ge=1)
    rule: MatchRule
    allocations: list[Allocation] = Field(min_length=1)


class StatementLinesMatched(LedgerEvent):
    """Lines matched to invoices by the cascade (chunks of a run)."""

    matches: list[LineMatch] = Field(min_length=1)


class ExceptionKind(StrEnum):
    """Why a line was not matched. Each goes to a person (finance) to resolve."""

    UNMATCHED = "UNMATCHED"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    DUPLICATE = "DUPLICATE"
    AMBIGUOUS = "AMBIGUOUS"
    REFERENCE_SHORTFALL = "REFERENCE_SHORTFALL"
    """A payment reference was reserved for more than was credited under it (docs/rules.md#reference-shortfall)."""


class LineException(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line_no: int = Field(ge=1)
    kind: ExceptionKind
    reason: str
    amount_rp: Rupiah
    candidate_invoice_refs: list[str]


class ReconciliationExceptionsRaised(LedgerEvent):
    """Lines the cascade could not match: each one an open exception until an operator resolves it."""

    exceptions: list[LineException] = Field(min_length=1)


class ResolutionAction(StrEnum):
    MATCH = "MATCH"
    """Matched by hand to one or more invoices (a partial payment, a mistyped reference)."""
    WRITE_OFF = "WRITE_OFF"
    """Not a contribution (returned to the sender or booked elsewhere): leaves suspense."""
    SUSPENSE = "SUSPENSE"
    """Parked in suspense, acknowledged: stays listed with its age until matched or written off."""


class ReconciliationExceptionResolved(LedgerEvent):
    line_no: int = Field(ge=1)
    action: ResolutionAction
    amount_rp: Rupiah
    allocations: list[Allocation]
    note: str


class ReconciliationRecorded(LedgerEvent):
    """A payer's reconciliation book was touched: a run of the cascade or an operator's resolution."""

    payer_id: str
    what: str
    lines: int = Field(ge=0)
    matched_rp: Rupiah


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


class PaymentReferenceShortfall(LedgerEvent):
    """A reference's reserved amount differs from what its command credited under it: an open reconciliation
    exception for finance (``kind`` REFERENCE_SHORTFALL, docs/rules.md#reference-shortfall). Members are named
    by their pseudonymous ids."""

    kind: ExceptionKind
    reference: str
    payer_id: str
    reserved_rp: Rupiah
    credited_rp: Rupiah
    difference_rp: int
    already_paid_elsewhere: list[str]
    no_longer_payable: dict[str, int]
    reason: str


# --- Bulk commands in progress (docs/rules.md#bulk-progress) --------------------------------------


class BulkCommandStarted(LedgerEvent):
    """A bulk command (cohort payment, import, sweep) committed its first batch; ``members_total`` it decided."""

    command_type: str
    payload_digest: str
    members_total: int = Field(ge=0)
    amount_rp: Rupiah
    payment_reference: str | None


class BulkMembersPlanned(LedgerEvent):
    """Part of the plan a cohort payment decided before its first commit (pseudonymous member ids, hex)."""

    member_ids: list[str]


class BulkBatchCommitted(LedgerEvent):
    members_done: int = Field(ge=0)


class BulkCommandCompleted(LedgerEvent):
    members_done: int = Field(ge=0)
    not_done: int = Field(ge=0)
    payment_reference: str | None


MEMBER_EVENTS = (
    MemberEnrolled,
    ContributionPaid,
    CoverageReinstated,
    CoverageLapsed,
    PayerChanged,
    ClaimFiled,
    MemberDied,
    ContributionRefundDue,
    ContributionRefundSettled,
    JhtBalanceCarriedIn,
    PersonalDataErased,
)
