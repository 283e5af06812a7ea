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

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from commands.bootstrap import Ledger
from commands.common import all_windows, load_agreement, release_held_claims, reserve_reference, window_of
from commands.messages import CohortRow, Command, ImportCohort, PayCohort, Sweep
from eventstore.store import EventRow, Head, SnapshotParams, SnapshotRow, event_rows, snapshot_row
from ledger.aggregate import Aggregate, CommandContext
from ledger.agreement import Agreement
from ledger.business_time import ZONES, business_day, known_region, today_in, zone_name
from ledger.claim import Claim, claim_id_for
from ledger.coverage import AgreementWindow
from ledger.errors import AlreadyDone, InvalidInput, LedgerError, RuleViolation
from ledger.identity import PersonalData, SealedPersonalData, check_birth_date, member_id_for
from ledger.member import EnrolmentPlan, Member, decide_payment
from ledger.reservations import CommandRecord
from ledger.values import Period, format_rp, require_not_before, require_region_code

Result = dict[str, Any]
REPLICATE_BY_STATE = True
"""Decide once per distinct member state (see :func:`outcomes_by_state`); tests turn it off to compare."""
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
    require_not_before(on, agreement.state.signed_on, f"the signing of {agreement.state.code}")
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
        try:
            check_birth_date(row.birth_date, row.nik, on)
        except LedgerError as err:
            errors.append(RowError(line, err.field, err.reason))
            continue
        seen[row.nik] = line
        candidates.append((line, row, member_id_for(pepper, row.nik)))
    existing = ledger.store.load_existing(Member, [mid for _, _, mid in candidates])
    mapper = ledger.store.mapper
    replicate = REPLICATE_BY_STATE and mapper.cipher is None and mapper.compressor is None
    templates: dict[tuple[Any, ...], Outcome | LedgerError] = {}
    accepted: list[tuple[CohortRow, Member, EnrolmentPlan]] = []  # decided one by one (re-joins)
    newcomers: list[tuple[CohortRow, uuid.UUID, Outcome]] = []  # first enrolments, decided per situation
    resumed = 0
    for line, row, mid in candidates:
        member = existing.get(mid) or Member(mid)
        spell = member.open_spell
        if spell is not None and spell.command_id == ctx.command_id:
            resumed += 1
            continue
        if replicate and not member.exists:
            key = (row.village_code, row.role, row.declared_income_rp)
            if key not in templates:
                templates[key] = _enrolment_template(ledger, ctx, on, agreement, window, windows, region, row)
            template = templates[key]
            if isinstance(template, LedgerError):
                errors.append(RowError(line, template.field, template.reason))
            else:
                newcomers.append((row, mid, template))
            continue
        try:
            plan = _plan(member, on, agreement, window, windows, region, row)
        except LedgerError as err:
            errors.append(RowError(line, err.field, err.reason))
            continue
        accepted.append((row, member, plan))
    if errors and not cmd.skip_invalid:
        raise ImportRejected(sorted(errors, key=lambda e: e.line))
    ledger.keyring.ensure_keys([*(m.id for _, m, _ in accepted if not m.exists), *(mid for _, mid, _ in newcomers)])
    writes: list[tuple[tuple[uuid.UUID, int] | None, Outcome]] = []
    for row, member, plan in accepted:
        sealed = _seal(ledger, member.id, row) if not member.exists else None
        member.enrol(ctx, plan, sealed)
        writes.append((None, Outcome("write", member=member)))
    for row, mid, template in newcomers:
        (topic, state), = template.states
        personal = _seal(ledger, mid, row).model_dump_json().encode()
        writes.append(((mid, 0), replace(template, states=((topic, state.replace(SEALED_SLOT, b'"personal":' +
                                                                                  personal)),))))
    result: Result = {
        "agreement_id": cmd.agreement_id,
        "imported": len(accepted) + len(newcomers),
        "resumed": resumed,
        "rejected": [
            {"line": e.line, "field": e.field, "reason": e.reason} for e in sorted(errors, key=lambda e: e.line)
        ],
    }
    record.accept(ctx, cmd.kind, digest, {**result, "rejected": len(errors)}, on)
    write_in_batches(ledger, writes, last=[record], label=f"enrolling {cmd.agreement_id}")
    return result


SEALED_SLOT = b'"personal":null'
"""Where a first enrolment's sealed personal data goes in the template event's canonical JSON."""
TEMPLATE_ID = uuid.UUID(int=0)


def _enrolment_template(
    ledger: Ledger, ctx: CommandContext, on: date, agreement: Agreement, window: AgreementWindow,
    windows: dict[str, AgreementWindow], region: str, row: CohortRow,
) -> Outcome | LedgerError:
    """A first enrolment decided once for every newcomer with the same village, role and income: its
    event (with an empty personal-data slot) and the state it leaves, or the rule that refuses it."""
    probe = Member(TEMPLATE_ID)
    try:
        probe.enrol(ctx, _plan(probe, on, agreement, window, windows, region, row), None)
    except LedgerError as err:
        return err
    (event,) = probe.collect_events()
    stored = ledger.store.mapper.to_stored_event(event)
    assert stored.state.count(SEALED_SLOT) == 1
    return Outcome("write", states=((stored.topic, stored.state),), snapshot=snapshot_row(probe))


def _seal(ledger: Ledger, member_id: uuid.UUID, row: CohortRow) -> SealedPersonalData:
    data = PersonalData(nik=row.nik, name=row.name, birth_date=row.birth_date, address=row.address)
    return ledger.keyring.seal(member_id, data.model_dump_json().encode())


def _plan(member: Member, on: date, agreement: Agreement, window: AgreementWindow,
          windows: dict[str, AgreementWindow], region: str, row: CohortRow) -> EnrolmentPlan:
    s = agreement.state
    return member.plan_enrolment(
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
        windows=windows,
    )


# --- deciding once per distinct member state ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one decision did to a member: ``write`` (events below), ``resumed``, ``skip`` or ``none``."""

    kind: str
    amount_rp: int = 0
    reason: str = ""
    states: tuple[tuple[str, bytes], ...] = ()
    snapshot: SnapshotRow | None = None
    member: Member | None = None
    """Set when the member was decided on its own: its pending events are saved the object-path way."""


Decide = Callable[[Member], Outcome]


def outcomes_by_state(ledger: Ledger, heads: Iterable[Head], decide: Decide) -> Iterator[tuple[Head, Outcome]]:
    """Run ``decide`` on each member — once per distinct state, not once per member.

    Members whose heads have equal keys (snapshot state and newer event states, none of which holds an id
    or personal data) are in the same situation, so the same aggregate method on them triggers
    byte-identical event states and leaves byte-identical new state. The decision runs on the first such
    member; the others get copies of its stored bytes with their own id and version. Members with claims,
    and stores with an app-wide cipher (random nonces), are always decided one by one.
    """
    mapper = ledger.store.mapper
    replicate = REPLICATE_BY_STATE and mapper.cipher is None
    cache: dict[Any, Outcome] = {}
    for head in heads:
        if not replicate or head.row.has_claims:
            member = head.aggregate(Member, mapper)
            outcome = decide(member)
            yield head, replace(outcome, member=member if member.pending else None)
            continue
        key = head.key
        cached = cache.get(key)
        if cached is None:
            member = head.aggregate(Member, mapper)
            outcome = decide(member)
            pending = member.collect_events()
            if pending:
                stored = [mapper.to_stored_event(e) for e in pending]
                outcome = replace(outcome, states=tuple((e.topic, e.state) for e in stored),
                                  snapshot=snapshot_row(member))
            cache[key] = cached = outcome
        yield head, cached


def to_write(aggregate_id: uuid.UUID, version: int, outcome: Outcome) -> tuple[list[EventRow], SnapshotParams]:
    """The event rows and new snapshot row of a member at ``version``, for an outcome decided on its state."""
    snap = outcome.snapshot
    assert snap is not None and outcome.states
    events = [(aggregate_id, version + k, topic, state) for k, (topic, state) in enumerate(outcome.states, start=1)]
    return events, snap.params_for(aggregate_id, version + len(events))


class _Transaction:
    """The rows of one bulk transaction, in decision order: object-path aggregates and copied outcomes."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.events: list[EventRow] = []
        self.snapshots: list[SnapshotParams] = []
        self.states: dict[bytes, bytes] = {}

    def add_aggregate(self, agg: Aggregate[Any]) -> None:
        pending = agg.collect_events()
        if pending:
            self.events.extend(event_rows(self.ledger.store.mapper.to_stored_event(e) for e in pending))
            row = snapshot_row(agg)
            self.snapshots.append(row.params_for(row.aggregate_id, row.version))
            self.states[row.state_hash] = row.state

    def add_outcome(self, aggregate_id: uuid.UUID, version: int, outcome: Outcome) -> None:
        rows, snap = to_write(aggregate_id, version, outcome)
        self.events.extend(rows)
        self.snapshots.append(snap)
        assert outcome.snapshot is not None
        self.states[outcome.snapshot.state_hash] = outcome.snapshot.state

    def commit(self) -> None:
        if self.events:
            self.ledger.store.write_rows(self.events, self.snapshots, self.states)


def write_in_batches(
    ledger: Ledger,
    writes: Sequence[tuple[tuple[uuid.UUID, int] | None, Outcome]],
    *,
    first: Sequence[Aggregate[Any]] = (),
    last: Sequence[Aggregate[Any]] = (),
    label: str,
) -> None:
    """Append the decided members' events ``ledger.batch_size`` members per transaction; the ``first``
    and ``last`` aggregates (reservations, the command record) ride in the first and last transaction.
    An outcome carrying its member is saved the object-path way; the others are copied bytes."""
    batches = list(_batches(writes, ledger.batch_size)) or [[]]
    progress = _progress(len(writes), label)
    task = progress.add_task(label, total=len(writes)) if progress else None
    try:
        for i, batch in enumerate(batches):
            tx = _Transaction(ledger)
            for agg in first if i == 0 else []:
                tx.add_aggregate(agg)
            for head, outcome in batch:
                if outcome.member is not None:  # decided on its own: the object path
                    tx.add_aggregate(outcome.member)
                else:
                    assert head is not None
                    tx.add_outcome(head[0], head[1], outcome)
            for agg in last if i == len(batches) - 1 else []:
                tx.add_aggregate(agg)
            tx.commit()
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
    finally:
        if progress is not None:
            progress.stop()


# --- cohort payment -------------------------------------------------------------------------------


@dataclass
class CohortDecision:
    """Who in a cohort can be paid for the periods, and why the others cannot."""

    writes: list[tuple[Head, Outcome]]
    skipped: Counter[str]
    resumed: int
    resumed_rp: int

    @property
    def members_payable(self) -> int:
        return len(self.writes) + self.resumed

    @property
    def amount_rp(self) -> int:
        return self.resumed_rp + sum(o.amount_rp for _, o in self.writes)


def decide_cohort(
    ledger: Ledger, ctx: CommandContext, agreement_id: str, period_texts: Sequence[str], on: date,
    payment_reference: str, *, verify_heads: bool = True,
) -> tuple[Agreement, CohortDecision]:
    """Decide (and trigger, on each member) the payment of ``periods`` for every member of the cohort."""
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

    def decide(member: Member) -> Outcome:
        try:
            decision = decide_payment(member.state, periods, on, windows, payer_id)
        except AlreadyDone as err:
            mine = [member.state.paid.get(str(p)) for p in periods]
            if all(x is not None and x.payment_reference == payment_reference for x in mine):
                return Outcome("resumed", amount_rp=sum(x.amount_rp for x in mine if x is not None))
            return Outcome("skip", reason=_reason_key(err))
        except LedgerError as err:
            return Outcome("skip", reason=_reason_key(err))
        member.record_payment(ctx, on, decision, payment_reference)
        return Outcome("write", amount_rp=decision.amount_rp)

    result = CohortDecision([], Counter(), 0, 0)
    heads = ledger.store.heads(list(ledger.store.snapshots_of_kind("Member", cohort=agreement_id)),
                               verify=verify_heads)
    for head, outcome in outcomes_by_state(ledger, heads, decide):
        if outcome.kind == "write":
            result.writes.append((head, outcome))
        elif outcome.kind == "resumed":
            result.resumed += 1
            result.resumed_rp += outcome.amount_rp
        else:
            result.skipped[outcome.reason] += 1
    return agreement, result


def quote_cohort(ledger: Ledger, agreement_id: str, periods: Sequence[str], on: date | None) -> Result:
    """What paying ``periods`` for the cohort would cost today (or on ``on``); writes nothing."""
    agreement = load_agreement(ledger, agreement_id)
    region = known_region(agreement.state.region_code, ledger.clock.now())
    day = business_day(ledger.clock.now(), on, [region], question=True).on
    ctx = CommandContext("quote", "quote", ledger.clock.now(), ledger.clock.now())
    _, cohort = decide_cohort(ledger, ctx, agreement_id, periods, day, "QUOTE")
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
    agreement, cohort = decide_cohort(ledger, ctx, cmd.agreement_id, cmd.periods, on, cmd.payment_reference,
                                      verify_heads=ledger.verify_heads)
    if cohort.members_payable == 0:
        raise RuleViolation(
            "agreement_id",
            f"no member of {cmd.agreement_id} can be paid for {', '.join(cmd.periods)}: "
            f"{dict(cohort.skipped) or 'the cohort is empty'}",
        )
    if cmd.amount_rp != cohort.amount_rp:
        raise RuleViolation(
            "amount_rp",
            f"{format_rp(cmd.amount_rp)} does not match the tariff for the payable cohort: "
            f"{cohort.members_payable} members x {len(cmd.periods)} period(s) = {format_rp(cohort.amount_rp)}",
        )
    ref = reserve_reference(ledger, ctx, cmd.payment_reference, agreement.state.payer_id, cmd.amount_rp,
                            "contribution", on)
    released = [
        claim
        for _, outcome in cohort.writes
        if outcome.member is not None  # members with claims are decided one by one: as they will be saved
        for claim in release_held_claims(ledger, ctx, outcome.member, on, cmd.payment_reference)
    ]
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
    write_in_batches(ledger, [((h.aggregate_id, h.version), o) for h, o in cohort.writes], first=[ref],
                     last=[*released, record], label=f"paying {cmd.agreement_id}")
    return result


# --- sweep ----------------------------------------------------------------------------------------


def sweep(ledger: Ledger, cmd: Sweep, ctx: CommandContext, on: date, record: CommandRecord, digest: str) -> Result:
    """Emit every lapse due by ``on``; reject held claims whose arrears can no longer be paid.

    Without ``--on`` (``cmd.effective_on`` None) each member is swept for today in its own region's zone
    (docs/rules.md#time-zones): at 00:30 WITA a Kendari member's new day has begun, a Pontianak member's not."""
    now = ledger.clock.now()
    by_zone = {zone: today_in(zone, now) for zone in ZONES} if cmd.effective_on is None else {}
    latest = max(by_zone.values()) if by_zone else on
    windows = all_windows(ledger)
    ended = [code for code, w in windows.items() if w.last_period < Period.containing(latest)]
    lapsed: Counter[str] = Counter()
    claims: list[Aggregate[Any]] = []

    def day_of(member: Member) -> date:
        region = known_region(member.state.region_code, now)
        return by_zone[zone_name(region, now)] if by_zone and region else on

    def decide(member: Member) -> Outcome:
        day = day_of(member)
        due = member.lapse_due(day, windows)
        if due is not None:
            member.lapse(ctx, due)
        for claim_ref in member.state.claims:
            claim = ledger.store.load(Claim, claim_id_for(claim_ref))
            if claim.close_hold_if_unpayable(ctx, member, day):
                claims.append(claim)
        return Outcome("write", reason=due.reason.value) if due is not None else Outcome("none")

    writes = []
    heads = ledger.store.heads(list(ledger.store.members_to_sweep(ended, latest.isoformat())),
                               verify=ledger.verify_heads)
    for head, outcome in outcomes_by_state(ledger, heads, decide):
        if outcome.kind == "write":
            lapsed[outcome.reason] += 1
            writes.append((head, outcome))
    result: Result = {"on": on.isoformat(), "lapsed": dict(sorted(lapsed.items())), "claims_rejected": len(claims)}
    if by_zone:
        result["on_by_zone"] = {zone: day.isoformat() for zone, day in by_zone.items()}
    record.accept(ctx, cmd.kind, digest, result, on)
    write_in_batches(ledger, [((h.aggregate_id, h.version), o) for h, o in writes], last=[*claims, record],
                     label="sweeping")
    ledger.store.collect_unused_states()  # the periodic job is the natural time to drop unused snapshot states
    return result


BULK_HANDLERS: dict[type[Command], Callable[..., Result]] = {
    ImportCohort: import_cohort,
    PayCohort: pay_cohort,
    Sweep: sweep,
}
