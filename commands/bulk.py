"""Bulk paths: cohort import, cohort payment, sweep — real volumes, still event-sourced.

Each loads the cohort's current state in one query (the snapshot rows written with the events),
decides every member with the same aggregate methods and rules as the single-member path, and saves
``ledger.batch_size`` aggregates per transaction.

Retry contract: a bulk command that stopped half-way (crash, conflict) is finished by running it again
with the same command id. Members it already handled are recognised by that command id (enrolment) or
its payment reference (payment) and counted as ``resumed``; the command record is written with the
last batch, so only a complete run is replayed as done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from commands.bootstrap import Ledger
from commands.clock import business_today
from commands.common import all_windows, load_agreement, window_of
from commands.messages import Command, ImportCohort, PayCohort, Sweep
from ledger.aggregate import Aggregate, CommandContext
from ledger.agreement import Agreement
from ledger.claim import Claim, claim_id_for
from ledger.errors import AlreadyDone, InvalidInput, LedgerError, RuleViolation
from ledger.identity import PersonalData, member_id_for
from ledger.member import Member, PaymentDecision, decide_payment
from ledger.reservations import CommandRecord, PaymentReference, payment_reference_id
from ledger.values import Period, require_region_code

Result = dict[str, Any]
SHOW_PROGRESS = True
"""The CLI turns progress bars off for ``--json`` and when output is not a terminal."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class ImportRejected(InvalidInput):
    """A cohort file with bad rows: nothing imported, every bad row listed with its line number."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:20])
        more = f" (and {len(self.errors) - 20} more)" if len(self.errors) > 20 else ""
        super().__init__("rows", f"{len(self.errors)} bad row(s), nothing imported: {shown}{more}")


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _progress(total: int, label: str) -> Progress | None:
    if not SHOW_PROGRESS or total < 1_000:
        return None
    progress = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    )
    progress.start()
    return progress


def save_in_batches(
    ledger: Ledger,
    aggregates: Sequence[Aggregate[Any]],
    *,
    first: Sequence[Aggregate[Any]] = (),
    last: Sequence[Aggregate[Any]] = (),
    label: str = "saving",
) -> None:
    """Save ``aggregates`` ``ledger.batch_size`` per transaction; ``first``/``last`` ride with the ends."""
    batches = list(_batches(aggregates, ledger.batch_size)) or [[]]
    progress = _progress(len(aggregates), label)
    task = progress.add_task(label, total=len(aggregates)) if progress else None
    try:
        for i, batch in enumerate(batches):
            extra_first = list(first) if i == 0 else []
            extra_last = list(last) if i == len(batches) - 1 else []
            ledger.store.save(*extra_first, *batch, *extra_last)
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
    finally:
        if progress is not None:
            progress.stop()


def _reason_key(err: LedgerError) -> str:
    """Group skip reasons without dates or periods in them."""
    return f"{err.field}: {err.reason.split(' (')[0].split(' on ')[0]}"


# --- cohort import --------------------------------------------------------------------------------


def import_cohort(
    ledger: Ledger, cmd: ImportCohort, ctx: CommandContext, on: date, record: CommandRecord, digest: str
) -> Result:
    agreement = load_agreement(ledger, cmd.agreement_id)
    if agreement.state.closed:
        raise RuleViolation("agreement_id", f"agreement {cmd.agreement_id} is closed")
    window = window_of(agreement)
    windows = all_windows(ledger)
    region = require_region_code(cmd.region_code or agreement.state.region_code)
    pepper = ledger.keyring.secrets.pepper
    errors: list[RowError] = [RowError(line, field, reason) for line, field, reason in cmd.invalid_rows]
    seen: dict[str, int] = {}
    candidates = []
    for line, row in cmd.rows:
        if row.nik in seen:
            errors.append(RowError(line, "nik", f"duplicate of line {seen[row.nik]} in this file"))
            continue
        seen[row.nik] = line
        candidates.append((line, row, member_id_for(pepper, row.nik)))
    members = ledger.store.load_many(Member, [mid for _, _, mid in candidates])
    accepted = []
    resumed = 0
    for line, row, mid in candidates:
        member = members[mid]
        spell = member.open_spell
        if spell is not None and spell.command_id == ctx.command_id:
            resumed += 1
            continue
        probe = Member(mid, member.version, member.state.model_copy(deep=True)) if member.exists else Member(mid)
        try:
            _enrol(probe, ctx, on, agreement, window, windows, region, row, personal=None)
        except LedgerError as err:
            errors.append(RowError(line, err.field, err.reason))
            continue
        accepted.append((row, member))
    if errors and not cmd.skip_invalid:
        raise ImportRejected(sorted(errors, key=lambda e: e.line))
    ledger.keyring.ensure_keys(m.id for _, m in accepted)
    for row, member in accepted:
        sealed = None
        if not member.exists:
            data = PersonalData(nik=row.nik, name=row.name, birth_date=row.birth_date, address=row.address)
            sealed = ledger.keyring.seal(member.id, data.model_dump_json().encode())
        _enrol(member, ctx, on, agreement, window, windows, region, row, personal=sealed)
    result: Result = {
        "agreement_id": cmd.agreement_id,
        "imported": len(accepted),
        "resumed": resumed,
        "rejected": [{"line": e.line, "field": e.field, "reason": e.reason} for e in sorted(errors, key=lambda e: e.line)],
    }
    record.accept(ctx, cmd.kind, digest, {**result, "rejected": len(errors)}, on)
    save_in_batches(ledger, [m for _, m in accepted], last=[record], label=f"enrolling {cmd.agreement_id}")
    return result


def _enrol(member: Member, ctx: CommandContext, on: date, agreement: Any, window: Any, windows: Any,
           region: str, row: Any, personal: Any) -> None:
    s = agreement.state
    member.enrol(
        ctx,
        on=on,
        agreement=window,
        payer_id=s.payer_id,
        payer_type=s.payer_type,
        fund_source=s.fund_source,
        region_code=region,
        village_code=row.village_code,
        role=row.role,
        programmes=list(s.programmes),
        declared_income_rp=row.declared_income_rp or s.declared_income_rp,
        personal=personal,
        windows=windows,
    )


# --- cohort payment -------------------------------------------------------------------------------


@dataclass
class CohortDecision:
    """Who in a cohort can be paid for the periods, and why the others cannot."""

    decided: list[tuple[Member, PaymentDecision]]
    skipped: Counter[str]
    resumed: int
    resumed_rp: int

    @property
    def members_payable(self) -> int:
        return len(self.decided) + self.resumed

    @property
    def amount_rp(self) -> int:
        return self.resumed_rp + sum(d.amount_rp for _, d in self.decided)


def decide_cohort(
    ledger: Ledger, agreement_id: str, period_texts: Sequence[str], on: date, payment_reference: str | None
) -> tuple[Agreement, CohortDecision]:
    """Decide the payment of ``periods`` for every member of the cohort, with the single-member rules."""
    agreement = load_agreement(ledger, agreement_id)
    window = window_of(agreement)
    periods = [Period.parse(p, "periods") for p in period_texts]
    for p in periods:
        if not window.first_period <= p <= window.last_period:
            raise RuleViolation(
                "periods",
                f"{p} is outside agreement {window.code} window {window.first_period}..{window.last_period}",
            )
    windows = all_windows(ledger)
    payer_id = agreement.state.payer_id
    result = CohortDecision([], Counter(), 0, 0)
    for row in ledger.store.snapshots_of_kind("Member", cohort=agreement_id):
        member = Member.from_snapshot(row.aggregate_id, row.version, row.state)
        try:
            decision = decide_payment(member.state, periods, on, windows, payer_id)
        except AlreadyDone as err:
            mine = [member.state.paid.get(str(p)) for p in periods]
            if payment_reference and all(x is not None and x.payment_reference == payment_reference for x in mine):
                result.resumed += 1
                result.resumed_rp += sum(x.amount_rp for x in mine if x is not None)
            else:
                result.skipped[_reason_key(err)] += 1
            continue
        except LedgerError as err:
            result.skipped[_reason_key(err)] += 1
            continue
        result.decided.append((member, decision))
    return agreement, result


def quote_cohort(ledger: Ledger, agreement_id: str, periods: Sequence[str], on: date | None) -> Result:
    """What paying ``periods`` for the cohort would cost today (or on ``on``); writes nothing."""
    day = on or business_today(ledger.clock)
    _, cohort = decide_cohort(ledger, agreement_id, periods, day, None)
    return {
        "agreement_id": agreement_id,
        "periods": list(periods),
        "on": day.isoformat(),
        "members_payable": cohort.members_payable,
        "amount_rp": cohort.amount_rp,
        "skipped": dict(sorted(cohort.skipped.items())),
    }


def pay_cohort(
    ledger: Ledger, cmd: PayCohort, ctx: CommandContext, on: date, record: CommandRecord, digest: str
) -> Result:
    agreement, cohort = decide_cohort(ledger, cmd.agreement_id, cmd.periods, on, cmd.payment_reference)
    if cohort.members_payable == 0:
        raise RuleViolation(
            "agreement_id",
            f"no member of {cmd.agreement_id} can be paid for {', '.join(cmd.periods)}: "
            f"{dict(cohort.skipped) or 'the cohort is empty'}",
        )
    if cmd.amount_rp != cohort.amount_rp:
        raise RuleViolation(
            "amount_rp",
            f"Rp{cmd.amount_rp:,} does not match the tariff for the payable cohort: "
            f"{cohort.members_payable} members x {len(cmd.periods)} period(s) = Rp{cohort.amount_rp:,}",
        )
    payer_id = agreement.state.payer_id
    ref = ledger.store.load(PaymentReference, payment_reference_id(cmd.payment_reference))
    ref.use(ctx, reference=cmd.payment_reference, payer_id=payer_id, amount_rp=cmd.amount_rp,
            purpose="contribution", on=on)
    released: list[Claim] = []
    for member, decision in cohort.decided:
        member.record_payment(ctx, on, decision, cmd.payment_reference)
        for claim_ref in member.state.claims:
            claim = ledger.store.load(Claim, claim_id_for(claim_ref))
            if claim.release_if_paid(ctx, member, on, cmd.payment_reference):
                released.append(claim)
    result: Result = {
        "agreement_id": cmd.agreement_id,
        "periods": list(cmd.periods),
        "members_paid": cohort.members_payable,
        "resumed": cohort.resumed,
        "amount_rp": cohort.amount_rp,
        "skipped": dict(sorted(cohort.skipped.items())),
        "claims_released": len(released),
    }
    record.accept(ctx, cmd.kind, digest, result, on)
    save_in_batches(ledger, [m for m, _ in cohort.decided], first=[ref, *released], last=[record],
                    label=f"paying {cmd.agreement_id}")
    return result


# --- sweep ----------------------------------------------------------------------------------------


def sweep(ledger: Ledger, cmd: Sweep, ctx: CommandContext, on: date, record: CommandRecord, digest: str) -> Result:
    """Emit every lapse due by ``on``; reject held claims whose arrears can no longer be paid."""
    windows = all_windows(ledger)
    lapsed: Counter[str] = Counter()
    changed: list[Aggregate[Any]] = []
    claims_rejected = 0
    ended = [code for code, w in windows.items() if w.last_period < Period.containing(on)]
    for row in ledger.store.members_to_sweep(ended, on.isoformat()):
        member = Member.from_snapshot(row.aggregate_id, row.version, row.state)
        due = member.lapse_due(on, windows)
        if due is not None:
            member.lapse(ctx, due)
            lapsed[due.reason.value] += 1
            changed.append(member)
        for claim_ref in member.state.claims:
            claim = ledger.store.load(Claim, claim_id_for(claim_ref))
            if claim.close_hold_if_unpayable(ctx, member, on):
                claims_rejected += 1
                changed.append(claim)
    result: Result = {"on": on.isoformat(), "lapsed": dict(sorted(lapsed.items())), "claims_rejected": claims_rejected}
    record.accept(ctx, cmd.kind, digest, result, on)
    save_in_batches(ledger, changed, last=[record], label="sweeping")
    return result


BULK_HANDLERS: dict[type[Command], Callable[..., Result]] = {
    ImportCohort: import_cohort,
    PayCohort: pay_cohort,
    Sweep: sweep,
}
