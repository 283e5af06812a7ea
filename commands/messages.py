"""Command messages: the only way to ask the ledger to change. CLI, HTTP and broker build these.

Each command has a ``command_id`` (given, or generated): the same id with the same payload returns
the original result and writes nothing; the same id with another payload is an idempotency conflict.
``effective_on`` is the business date (``--on``); when omitted it is today in the zone of the region concerned.
Who acts is never part of a command: it is the authenticated principal each face hands to
:func:`commands.handlers.execute` (docs/rules.md#principals).
Money fields are whole rupiah (strict integers): 16800, never 16800.0, "16.800" or "16,800".
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from ledger.errors import InvalidInput
from ledger.identity import check_birth_date, validate_nik
from ledger.text import FreeText, NoNik, RequiredFreeText, RequiredText, Text
from ledger.values import (
    BillingCadence,
    ClaimType,
    FundSource,
    PayerType,
    Period,
    Programme,
    Role,
    SchoolLevel,
)

Rupiah = Annotated[StrictInt, Field(gt=0, le=10**15)]
RupiahOrZero = Annotated[StrictInt, Field(ge=0, le=10**15)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-_./:]*$"), NoNik]
DEFAULT_PROGRAMMES = [Programme.JKK, Programme.JKM]
CommandT = TypeVar("CommandT", bound="Command")


def new_command_id() -> str:
    return str(uuid.uuid4())


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: str = Field(default_factory=new_command_id, min_length=1, max_length=128)
    effective_on: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_declared_actor(cls, data: Any) -> Any:
        if isinstance(data, dict) and "actor" in data:
            raise InvalidInput("actor", "not accepted: who acts is the authenticated principal (its token), "
                                        "never a field of the command")
        return data

    def payload(self) -> dict[str, Any]:
        """What idempotency compares: everything but the command id."""
        return self.model_dump(mode="json", exclude={"command_id"})


class _HasNik(Command):
    nik: str

    @field_validator("nik")
    @classmethod
    def _nik(cls, value: str) -> str:
        return validate_nik(value)


def _parse_periods(value: Any) -> list[str]:
    """``2026-01``, ``2026-01..2026-03`` or a list of months → sorted list of ``YYYY-MM``."""
    items: list[Any] = value if isinstance(value, list) else [value]
    out: list[Period] = []
    for item in items:
        text = str(item).strip()
        if ".." in text:
            first_text, last_text = text.split("..", 1)
            first, last = Period.parse(first_text, "periods"), Period.parse(last_text, "periods")
            if last < first:
                raise InvalidInput("periods", f"range {text} ends before it starts")
            if first.months_until(last) >= 120:
                raise InvalidInput("periods", f"range {text} is longer than 120 months")
            out.extend(first + i for i in range(first.months_until(last) + 1))
        else:
            out.append(Period.parse(text, "periods"))
    if len(set(out)) != len(out):
        raise InvalidInput("periods", "a period is listed twice")
    return [str(p) for p in sorted(out)]


class SignAgreement(Command):
    kind: Literal["agreement.sign"] = "agreement.sign"
    agreement_id: Code
    name: RequiredFreeText = Field(min_length=1, max_length=200)
    payer_id: Code
    payer_name: FreeText = Field(default="", max_length=200)
    payer_type: PayerType
    fund_source: FundSource
    legal_basis: FreeText = Field(default="", max_length=200)
    region_code: str
    first_period: str
    last_period: str
    programmes: list[Programme] = Field(default_factory=lambda: list(DEFAULT_PROGRAMMES), min_length=1)
    declared_income_rp: Rupiah = 1_000_000
    billing_cadence: BillingCadence = BillingCadence.MONTHLY
    budget_rp: Rupiah
    cohort_planned: StrictInt = Field(default=0, ge=0, le=10_000_000)

    @field_validator("first_period", "last_period")
    @classmethod
    def _period(cls, value: str) -> str:
        return str(Period.parse(value))


class AmendBudget(Command):
    kind: Literal["agreement.amend_budget"] = "agreement.amend_budget"
    agreement_id: Code
    budget_rp: Rupiah
    reason: RequiredFreeText = Field(min_length=1, max_length=500)


class ConfirmBudget(Command):
    """A second budget owner confirms a budget amendment above the four-eyes threshold
    (docs/rules.md#four-eyes)."""

    kind: Literal["agreement.confirm_budget"] = "agreement.confirm_budget"
    agreement_id: Code
    budget_rp: Rupiah
    """The amount proposed: a confirmation names what it confirms."""


class EnrolMember(_HasNik):
    """Enrol one worker: under an agreement (its payer pays) or self-paying (no agreement)."""

    kind: Literal["member.enrol"] = "member.enrol"
    name: RequiredText = Field(min_length=1, max_length=200)
    birth_date: date | None = None
    address: Text | None = Field(default=None, max_length=500)
    phone: Text | None = Field(default=None, max_length=32)
    agreement_id: Code | None = None
    region_code: RequiredText
    village_code: Text | None = None
    role: RequiredText = Field(min_length=1, max_length=64)
    programmes: list[Programme] | None = None
    declared_income_rp: Rupiah | None = None

    @model_validator(mode="after")
    def _birth_date(self) -> EnrolMember:
        check_birth_date(self.birth_date, self.nik)
        return self


class PayContribution(_HasNik):
    kind: Literal["contribution.pay"] = "contribution.pay"
    periods: list[str]
    amount_rp: Rupiah
    payment_reference: Code
    payer_id: Code | None = None

    @field_validator("periods", mode="before")
    @classmethod
    def _periods(cls, value: Any) -> list[str]:
        return _parse_periods(value)


class PayCohort(Command):
    """Pay the same periods for every active member of an agreement under one payment reference."""

    kind: Literal["contribution.pay_cohort"] = "contribution.pay_cohort"
    agreement_id: Code
    periods: list[str]
    amount_rp: Rupiah
    payment_reference: Code

    @field_validator("periods", mode="before")
    @classmethod
    def _periods(cls, value: Any) -> list[str]:
        return _parse_periods(value)


class ChangePayer(_HasNik):
    kind: Literal["member.change_payer"] = "member.change_payer"
    agreement_id: Code | None = None
    from_period: str
    payer_id: Code | None = None

    @field_validator("from_period")
    @classmethod
    def _period(cls, value: str) -> str:
        return str(Period.parse(value, "from_period"))


class CarryInJht(_HasNik):
    kind: Literal["member.carry_in_jht"] = "member.carry_in_jht"
    amount_rp: Rupiah
    source: RequiredFreeText = Field(min_length=1, max_length=200)


class ForgetMember(_HasNik):
    kind: Literal["member.forget"] = "member.forget"
    reason: RequiredFreeText = Field(default="data subject request (UU 27/2022)", max_length=500)


class RevealMember(_HasNik):
    """Read a member's personal data in clear: recorded in the access log with its purpose (UU 27/2022)."""

    kind: Literal["member.reveal"] = "member.reveal"
    purpose: str = Field(min_length=1, max_length=500)
    face: str = Field(default="cli", pattern=r"^(cli|broker|http|web)$")


class SubmitClaim(_HasNik):
    kind: Literal["claim.submit"] = "claim.submit"
    claim_id: Code
    claim_type: ClaimType
    event_date: date
    declared_income_rp: Rupiah | None = None
    months_unable: StrictInt = Field(default=0, ge=0, le=120)
    medical_cost_rp: RupiahOrZero = 0
    home_care_cost_rp: RupiahOrZero = 0
    home_care_days: StrictInt = Field(default=0, ge=0, le=3650)
    school_levels: list[SchoolLevel] = Field(default_factory=list, max_length=2)
    death_claim_id: Code | None = None
    heir_name: Text | None = Field(default=None, max_length=200)


class ApproveClaim(Command):
    kind: Literal["claim.approve"] = "claim.approve"
    claim_id: Code


class RejectClaim(Command):
    kind: Literal["claim.reject"] = "claim.reject"
    claim_id: Code
    reason_code: Code
    reason: RequiredFreeText = Field(min_length=1, max_length=500)


class PayClaim(Command):
    kind: Literal["claim.pay"] = "claim.pay"
    claim_id: Code
    payment_reference: Code


class RecordWorkforce(Command):
    """The working population of a region (the UCJ denominator), from ``effective_on``."""

    kind: Literal["region.workforce"] = "region.workforce"
    region_code: RequiredText
    workforce: StrictInt = Field(gt=0, le=200_000_000)
    source: RequiredFreeText = Field(min_length=1, max_length=200)


class Sweep(Command):
    """Emit every lapse due by ``effective_on``; running it again for the same date emits nothing."""

    kind: Literal["sweep"] = "sweep"


class CohortRow(BaseModel):
    """One row of a cohort import (CSV/XLSX)."""

    model_config = ConfigDict(extra="ignore")

    nik: str
    name: RequiredText = Field(min_length=1, max_length=200)
    birth_date: date | None = None
    address: Text | None = Field(default=None, max_length=500)
    village_code: Text | None = None
    role: RequiredText = Field(min_length=1, max_length=64)
    declared_income_rp: Rupiah | None = None

    @field_validator("nik")
    @classmethod
    def _nik(cls, value: str) -> str:
        return validate_nik(value)

    @model_validator(mode="after")
    def _birth_date(self) -> CohortRow:
        check_birth_date(self.birth_date, self.nik)
        return self


class ImportCohort(Command):
    """Enrol many workers under one agreement; rows already validated and numbered by line."""

    kind: Literal["member.import"] = "member.import"
    agreement_id: Code
    region_code: str | None = None
    rows: list[tuple[int, CohortRow]]
    invalid_rows: list[tuple[int, str, str]] = Field(default_factory=list)
    """Rows the file parser already refused: (line, field, reason)."""
    skip_invalid: bool = False
    source_digest: str = ""


# --- money: billing, statements, reconciliation, refunds -------------------------------------------


class BillAgreement(Command):
    """Invoice the payer for the billing block (by the agreement's cadence) that contains ``period``."""

    kind: Literal["billing.bill"] = "billing.bill"
    agreement_id: Code
    period: str

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        return str(Period.parse(value, "period"))


class StatementLine(BaseModel):
    """A credit line of a statement: ``booked_on`` the booking date (in the statement period), ``value_on`` the
    value date (the booking date when the bank gives none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line_no: int = Field(ge=1)
    reference: RequiredFreeText = Field(min_length=1, max_length=64)
    booked_on: date
    amount_rp: Rupiah
    account: Text = Field(default="", max_length=64)
    description: FreeText = Field(default="", max_length=500)
    value_on: date

    @model_validator(mode="before")
    @classmethod
    def _value_date_defaults_to_booking_date(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("value_on") is None and "booked_on" in data:
            return {**data, "value_on": data["booked_on"]}
        return data


class ImportStatement(Command):
    """Record a payer's bank statement once. ``statement_id`` is the statement's SHA-256 (of the raw file for
    CSV/XLSX, of the statement's own text for MT940: ``commands.statement_file``); ``file_sha256``, when the
    statement came in a file with another digest, is that file's: a statement recorded under it (an MT940 file
    imported before statements had their own ids) is already imported too."""

    kind: Literal["reconcile.import"] = "reconcile.import"
    payer_id: Code
    statement_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    file_name: RequiredFreeText = Field(min_length=1, max_length=255)
    file_format: Literal["csv", "xlsx", "mt940"]
    account: Text | None = Field(default=None, max_length=64)
    period_start: date
    period_end: date
    opening_rp: int | None = None
    closing_rp: int | None = None
    lines: list[StatementLine] = Field(max_length=2_000_000)


class RunReconciliation(Command):
    """Match every new statement line of a payer (or of every payer) to open invoices by the cascade."""

    kind: Literal["reconcile.run"] = "reconcile.run"
    payer_id: Code | None = None


class ResolveException(Command):
    """An operator's decision on an open reconciliation exception (match by hand, write off, park)."""

    kind: Literal["reconcile.resolve"] = "reconcile.resolve"
    statement_id: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    """The statement's SHA-256, or a unique prefix of at least 8 hex digits."""
    line_no: int = Field(ge=1)
    action: Literal["MATCH", "WRITE_OFF", "SUSPENSE"]
    invoice_refs: list[Code] = Field(default_factory=list, max_length=100)
    note: RequiredFreeText = Field(min_length=1, max_length=500)


class SettleRefund(Command):
    """A refund due to a payer after a death was paid back (whole), with the transfer's reference."""

    kind: Literal["refund.settle"] = "refund.settle"
    claim_ref: Code
    payer_id: Code
    amount_rp: Rupiah
    payment_reference: Code


# --- principals (admin) -----------------------------------------------------------------------------------------

Token256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AddPrincipal(Command):
    """Grant roles in a scope to a new principal. The face makes the token (:func:`commands.authorise.new_token`),
    sends only its SHA-256 and shows the token once."""

    kind: Literal["principal.add"] = "principal.add"
    name: str = Field(min_length=2, max_length=64)
    roles: list[Role] = Field(min_length=1, max_length=7)
    scope: str = Field(default="all", max_length=80)
    description: str = Field(default="", max_length=200)
    token_sha256: Token256Hex
    token_expires_on: date | None = None
    """The token's last valid day (at most a year and a month ahead); none: until rotated or revoked."""

    def payload(self) -> dict[str, Any]:
        """The token is the face's, made anew on each attempt: a retry of the same request is the same command."""
        return self.model_dump(mode="json", exclude={"command_id", "token_sha256"})


class RotatePrincipalToken(Command):
    kind: Literal["principal.rotate_token"] = "principal.rotate_token"
    name: str = Field(min_length=2, max_length=64)
    token_sha256: Token256Hex
    token_expires_on: date | None = None

    def payload(self) -> dict[str, Any]:
        """As :meth:`AddPrincipal.payload`: the new token's hash is not the caller's input."""
        return self.model_dump(mode="json", exclude={"command_id", "token_sha256"})


PasswordArgon2 = Annotated[str, Field(pattern=r"^\$argon2id\$", max_length=256)]


class SetPrincipalPassword(Command):
    """Set (or replace) a principal's web password. The face hashes the password
    (:func:`commands.passwords.hash_password`, which applies the policy) and sends only the argon2id hash."""

    kind: Literal["principal.set_password"] = "principal.set_password"
    name: str = Field(min_length=2, max_length=64)
    password_argon2: PasswordArgon2

    def payload(self) -> dict[str, Any]:
        """As :meth:`AddPrincipal.payload`: the hash is the face's, with a new salt on each attempt, so a retry of
        the same request is the same command."""
        return self.model_dump(mode="json", exclude={"command_id", "password_argon2"})


class RevokePrincipal(Command):
    kind: Literal["principal.revoke"] = "principal.revoke"
    name: str = Field(min_length=2, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        SignAgreement,
        AmendBudget,
        EnrolMember,
        PayContribution,
        PayCohort,
        ChangePayer,
        CarryInJht,
        ForgetMember,
        SubmitClaim,
        ApproveClaim,
        RejectClaim,
        PayClaim,
        Sweep,
        ImportCohort,
        RecordWorkforce,
        BillAgreement,
        ImportStatement,
        RunReconciliation,
        ResolveException,
        SettleRefund,
        ConfirmBudget,
        RevealMember,
        AddPrincipal,
        RotatePrincipalToken,
        SetPrincipalPassword,
        RevokePrincipal,
    )
}


def field_error(exc: ValidationError) -> InvalidInput:
    """The first pydantic error as an :class:`InvalidInput` naming the field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "command"
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, InvalidInput):
        return InvalidInput(ctx_error.field if ctx_error.field != "period" else field, ctx_error.reason)
    message = err["msg"]
    if err["type"] in {"int_type", "int_from_float", "int_parsing"}:
        message = f"must be whole rupiah or a whole number, got {err.get('input')!r}"
    elif err["type"] == "extra_forbidden":
        message = "unknown field"
    return InvalidInput(field, message)


def make(cls: type[CommandT], **fields: Any) -> CommandT:
    """Build a command, turning pydantic's errors into :class:`InvalidInput` naming the field."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise field_error(exc) from None


def parse_command(kind: str, data: dict[str, Any]) -> Command:
    """Validate a message into its command type, raising :class:`InvalidInput` naming the field."""
    cls = COMMAND_TYPES.get(kind)
    if cls is None:
        raise InvalidInput("kind", f"unknown command type {kind!r}; known: {', '.join(sorted(COMMAND_TYPES))}")
    try:
        return cls.model_validate({**data, "kind": kind})
    except ValidationError as exc:
        raise field_error(exc) from None
    except InvalidInput:
        raise
