"""Funding agreement (perjanjian pendanaan: Perwali/Perbup/MoU) — who pays, for whom, when, how much.

Invariants:
- The window is at least one period and at most ``WINDOW_MONTHS_MAX`` long.
- The rate per member-month is the tariff in force at the window's start for the programmes bought;
  a signer cannot type a different rate.
- Budget is a ceiling, not an invoice: it is never compared to payments here (finance does that).
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel

from ledger.aggregate import Aggregate, CommandContext
from ledger.billing import budget_status, invoice_ref_for, needs_second_owner
from ledger.business_time import require_known_region
from ledger.errors import AlreadyDone, InvalidInput, RuleViolation
from ledger.events import (
    AgreementBudgetAmended,
    AgreementBudgetAmendmentProposed,
    AgreementClosed,
    AgreementSigned,
    InvoiceIssued,
    InvoiceLine,
    LedgerEvent,
)
from ledger.tariff import tariff_in_force
from ledger.values import (
    BillingCadence,
    FundSource,
    PayerType,
    Period,
    Programme,
    format_rp,
    require_code,
    require_not_before,
    require_rupiah,
)
from ledger.values import budget_in_force as budget_in_force  # re-exported (light: projections.facts)

NS_AGREEMENT = uuid.UUID("0b0e3f7e-58a4-4a5c-93c1-2f1e8e7d6a10")
WINDOW_MONTHS_MAX = 60


def agreement_id_for(code: str) -> uuid.UUID:
    return uuid.uuid5(NS_AGREEMENT, code)


class PendingBudget(BaseModel):
    """A budget amendment waiting for a second budget owner (four eyes)."""

    budget_rp: int
    reason: str
    proposed_by: str
    proposed_on: date


class AgreementState(BaseModel):
    code: str = ""
    name: str = ""
    payer_id: str = ""
    payer_name: str = ""
    payer_type: PayerType = PayerType.SELF
    fund_source: FundSource = FundSource.SELF
    legal_basis: str = ""
    region_code: str = ""
    first_period: str = ""
    last_period: str = ""
    programmes: list[Programme] = []
    declared_income_rp: int = 0
    rate_per_member_month_rp: int = 0
    billing_cadence: BillingCadence = BillingCadence.MONTHLY
    budget_rp: int = 0
    cohort_planned: int = 0
    signed_on: date | None = None
    closed: bool = False
    billed: dict[str, str] = {}
    """Period → the invoice that billed it (a period is billed once)."""
    invoices_rp: dict[str, int] = {}
    """Invoice ref → amount billed."""
    budgets: list[tuple[str, int, int]] = []
    """Every budget ceiling as (ISO day in force from, stream version, rupiah): the signed one, then each
    amendment (see :func:`budget_in_force`)."""
    pending_budget: PendingBudget | None = None


class Agreement(Aggregate[AgreementState]):
    """A payer's commitment to fund a cohort over a window of coverage periods."""

    state_type = AgreementState

    @property
    def first_period(self) -> Period:
        return Period.parse(self.state.first_period)

    @property
    def last_period(self) -> Period:
        return Period.parse(self.state.last_period)

    def covers_period(self, period: Period) -> bool:
        return self.first_period <= period <= self.last_period

    @classmethod
    def sign(
        cls,
        ctx: CommandContext,
        *,
        code: str,
        name: str,
        payer_id: str,
        payer_name: str,
        payer_type: PayerType,
        fund_source: FundSource,
        legal_basis: str,
        region_code: str,
        first_period: Period,
        last_period: Period,
        programmes: list[Programme],
        declared_income_rp: int,
        billing_cadence: BillingCadence,
        budget_rp: int,
        cohort_planned: int,
        signed_on: date,
        existing: Agreement | None = None,
    ) -> Agreement:
        code = require_code(code, "agreement_id")
        if existing is not None and existing.exists:
            raise AlreadyDone("agreement_id", f"agreement {code} is already signed")
        require_code(payer_id, "payer_id")
        region_code = require_known_region(region_code, signed_on)
        if not name.strip():
            raise InvalidInput("name", "must not be empty")
        if last_period < first_period:
            raise InvalidInput("last_period", f"{last_period} is before first_period {first_period}")
        if first_period.months_until(last_period) + 1 > WINDOW_MONTHS_MAX:
            raise InvalidInput("last_period", f"window longer than {WINDOW_MONTHS_MAX} months")
        if payer_type is PayerType.SELF:
            raise InvalidInput("payer_type", "a funding agreement needs a third-party payer")
        require_rupiah(budget_rp, "budget_rp")
        require_rupiah(declared_income_rp, "declared_income_rp")
        if not 0 <= cohort_planned <= 10_000_000:
            raise InvalidInput("cohort_planned", "must be 0..10,000,000")
        tariff = tariff_in_force(first_period.start())
        per_programme = tariff.monthly_rp(set(programmes), declared_income_rp, payer_type)
        agg = cls(agreement_id_for(code))
        agg._trigger(
            ctx,
            AgreementSigned,
            signed_on,
            agreement_code=code,
            name=name.strip(),
            payer_id=payer_id,
            payer_name=payer_name.strip() or payer_id,
            payer_type=payer_type,
            fund_source=fund_source,
            legal_basis=legal_basis.strip(),
            region_code=region_code,
            first_period=str(first_period),
            last_period=str(last_period),
            programmes=sorted(set(programmes)),
            declared_income_rp=declared_income_rp,
            rate_per_member_month_rp=sum(per_programme.values()),
            billing_cadence=billing_cadence,
            budget_rp=budget_rp,
            cohort_planned=cohort_planned,
        )
        return agg

    def amend_budget(self, ctx: CommandContext, budget_rp: int, reason: str, on: date) -> bool:
        """Amend the ceiling, or — above the four-eyes threshold — propose it for a second budget owner
        (docs/rules.md#four-eyes). Returns whether the new ceiling is in force."""
        require_rupiah(budget_rp, "budget_rp")
        if self.state.closed:
            raise RuleViolation("agreement_id", f"agreement {self.state.code} is closed")
        if budget_rp == self.state.budget_rp:
            raise AlreadyDone("budget_rp", f"budget is already {format_rp(budget_rp)}")
        require_not_before(on, self.state.signed_on, f"the signing of {self.state.code}")
        event_type = (AgreementBudgetAmendmentProposed if needs_second_owner(self.state.budget_rp, budget_rp, on)
                      else AgreementBudgetAmended)
        self._trigger(ctx, event_type, on, budget_rp=budget_rp, previous_budget_rp=self.state.budget_rp,
                      reason=reason)
        return event_type is AgreementBudgetAmended

    def confirm_budget(self, ctx: CommandContext, budget_rp: int, on: date) -> None:
        """A second budget owner confirms the pending proposal (four eyes): the proposer cannot."""
        pending = self.state.pending_budget
        if pending is None:
            raise RuleViolation("agreement_id", f"agreement {self.state.code} has no budget amendment to confirm")
        if pending.budget_rp != budget_rp:
            raise RuleViolation("budget_rp", f"the pending amendment is {format_rp(pending.budget_rp)}, not "
                                             f"{format_rp(budget_rp)}")
        if ctx.actor == pending.proposed_by:
            raise RuleViolation("principal", f"four eyes (docs/rules.md#four-eyes): {ctx.actor} proposed this "
                                             "amendment; another budget owner must confirm it")
        require_not_before(on, pending.proposed_on, "the proposal")
        self._trigger(ctx, AgreementBudgetAmended, on, budget_rp=budget_rp,
                      previous_budget_rp=self.state.budget_rp,
                      reason=f"{pending.reason} (proposed by {pending.proposed_by} on {pending.proposed_on})")

    def issue_invoice(
        self, ctx: CommandContext, lines: list[InvoiceLine], projected_cost_rp: int, on: date
    ) -> InvoiceIssued:
        """Bill one block of periods (see :func:`ledger.billing.billing_block`); returns the invoice issued.

        Invariants: the agreement is open, every period is inside the window and billed at most once, the
        amount is the sum of the lines, and the budget status is decided by the rules in force."""
        if self.state.closed:
            raise RuleViolation("agreement_id", f"agreement {self.state.code} is closed")
        assert lines, "an invoice has lines"
        require_not_before(on, self.state.signed_on, f"the signing of {self.state.code}")
        periods = [Period.parse(line.period) for line in lines]
        for period in periods:
            if not self.covers_period(period):
                raise RuleViolation("period", f"{period} is outside the window {self.first_period}..{self.last_period}")
            if str(period) in self.state.billed:
                raise AlreadyDone("period", f"{period} is already billed by {self.state.billed[str(period)]}")
        amount_rp = sum(line.amount_rp for line in lines)
        if amount_rp == 0:
            spans = ", ".join(map(str, periods))
            raise RuleViolation("period", f"no member of {self.state.code} is expected in {spans}")
        ref = invoice_ref_for(self.state.code, periods[0])
        issued = self._trigger(
            ctx,
            InvoiceIssued,
            on,
            invoice_ref=ref,
            agreement_code=self.state.code,
            payer_id=self.state.payer_id,
            periods=[str(p) for p in periods],
            lines=lines,
            amount_rp=amount_rp,
            projected_cost_rp=projected_cost_rp,
            budget_rp=self.state.budget_rp,
            budget_status=budget_status(self.state.budget_rp, projected_cost_rp, on),
        )
        assert self.state.invoices_rp[ref] == amount_rp
        return issued

    def close(self, ctx: CommandContext, reason: str, on: date) -> None:
        if self.state.closed:
            raise AlreadyDone("agreement_id", f"agreement {self.state.code} is already closed")
        self._trigger(ctx, AgreementClosed, on, reason=reason)

    def apply(self, event: LedgerEvent) -> None:
        s = self.state
        if isinstance(event, AgreementSigned):
            s.code = event.agreement_code
            s.name = event.name
            s.payer_id = event.payer_id
            s.payer_name = event.payer_name
            s.payer_type = event.payer_type
            s.fund_source = event.fund_source
            s.legal_basis = event.legal_basis
            s.region_code = event.region_code
            s.first_period = event.first_period
            s.last_period = event.last_period
            s.programmes = list(event.programmes)
            s.declared_income_rp = event.declared_income_rp
            s.rate_per_member_month_rp = event.rate_per_member_month_rp
            s.billing_cadence = event.billing_cadence
            s.budget_rp = event.budget_rp
            s.cohort_planned = event.cohort_planned
            s.signed_on = event.effective_on
            s.budgets = [(event.effective_on.isoformat(), event.originator_version, event.budget_rp)]
        elif isinstance(event, AgreementBudgetAmendmentProposed):
            s.pending_budget = PendingBudget(budget_rp=event.budget_rp, reason=event.reason,
                                             proposed_by=event.actor, proposed_on=event.effective_on)
        elif isinstance(event, AgreementBudgetAmended):
            s.pending_budget = None
            s.budget_rp = event.budget_rp
            s.budgets = [*s.budgets, (event.effective_on.isoformat(), event.originator_version, event.budget_rp)]
        elif isinstance(event, AgreementClosed):
            s.closed = True
        elif isinstance(event, InvoiceIssued):
            s.billed = {**s.billed, **dict.fromkeys(event.periods, event.invoice_ref)}
            s.invoices_rp = {**s.invoices_rp, event.invoice_ref: event.amount_rp}
        else:  # pragma: no cover - a new event type must be handled here
            raise TypeError(f"Agreement cannot apply {type(event).__name__}")
