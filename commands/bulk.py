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
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from eventsourcing.utils import get_topic
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from commands.common import all_windows, load_agreement, release_held_claims, reserve_reference, window_of
from commands.messages import CohortRow, Command, ImportCohort, PayCohort, Sweep
from eventstore.bootstrap import Ledger
from eventstore.mapper import encode_state
from eventstore.state_codec import pack
from eventstore.store import EventRow, Head, SnapshotParams, SnapshotRow, event_rows, snapshot_row
from ledger.aggregate import Aggregate, CommandContext
from ledger.agreement import Agreement
from ledger.bulk_run import BulkRun, bulk_run_id, planned_members
from ledger.business_time import ZONES, business_day, known_region, today_in, zone_name
from ledger.claim import Claim, claim_id_for
from ledger.coverage import AgreementWindow
from ledger.errors import AlreadyDone, ConcurrencyConflict, InvalidInput, LedgerError, RuleViolation
from ledger.identity import PersonalData, SealedPersonalData, check_birth_date, member_id_for
from ledger.member import EnrolmentPlan, Member, decide_payment
from ledger.reservations import CommandRecord, PaymentReference, command_record_id, payment_reference_id
from ledger.values import Period, format_rp, require_not_before, require_region_code

Result = dict[str, Any]
REPLICATE_BY_STATE = True
"""Decide once per distinct member state (see :func:`outcomes_by_state`); tests turn it off to compare."""
SHOW_PROGRESS = True

"""The CLI turns progress bars off for ``--json`` and when output is not a terminal."""

ProgressHook = Callable[[int, int], None]
"""Told ``(members done, members total)`` of the bulk command running in its context."""
_PROGRESS_HOOK: ContextVar[ProgressHook | None] = ContextVar("bulk_progress_hook", default=None)


@contextmanager
def reporting_progress(hook: ProgressHook) -> Iterator[None]:
    """Within the block, a bulk command of this thread (context) calls ``hook(done, total)`` once before its
    first batch and after each batch it commits, instead of drawing the terminal bar (a server has none).
    ``done`` counts the members resumed from an earlier run of the same command id too. Without a hook
    (the CLI) nothing changes."""
    token = _PROGRESS_HOOK.set(hook)
    try:
        yield
    finally:
        _PROGRESS_HOOK.reset(token)


def _report(done: int, total: int) -> None:
    hook = _PROGRESS_HOOK.get()
    if hook is not None:
        hook(done, total)


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
    if not SHOW_PROGRESS or total < 1_000 or _PROGRESS_HOOK.get() is not None:
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


@dataclass
class ImportDecision:
    """A cohort import decided on the store's current state, nothing written yet: the members to enrol one by
    one (re-joins), the first enrolments decided per situation, those this command id enrolled before
    (``resumed``) and every refused row."""

    accepted: list[tuple[CohortRow, Member, EnrolmentPlan]]
    newcomers: list[tuple[CohortRow, uuid.UUID, Outcome]]
    resumed: int
    errors: list[RowError]


def check_import(ledger: Ledger, cmd: ImportCohort, ctx: CommandContext, on: date) -> ImportDecision:
    """Decide the import as :func:`import_cohort` would, writing nothing; :class:`ImportRejected` (every bad row)
    unless ``cmd.skip_invalid``. A face checks a file with it before queueing the import (the HTTP API answers
    422 at once); the import decides again when it runs, on the state of then."""
    decision = _decide_import(ledger, cmd, ctx, on)
    if decision.errors and not cmd.skip_invalid:
        raise ImportRejected(sorted(decision.errors, key=lambda e: e.line))
    return decision


def import_cohort(
    ledger: Ledger, cmd: ImportCohort, ctx: CommandContext, on: date, record: CommandRecord, digest: str
) -> Result:
    decision = check_import(ledger, cmd, ctx, on)
    accepted, newcomers, resumed, errors = decision.accepted, decision.newcomers, decision.resumed, decision.errors
    ledger.keyring.ensure_keys([*(m.id for _, m, _ in accepted if not m.exists), *(mid for _, mid, _ in newcomers)])
    writes: list[tuple[tuple[uuid.UUID, int] | None, Outcome]] = []
    for row, member, plan in accepted:
        sealed = _seal(ledger, member.id, row) if not member.exists else None
        member.enrol(ctx, plan, sealed)
        writes.append((None, Outcome("write", member=member)))
    for row, mid, template in newcomers:
        (topic, state), = template.states
        personal = _seal(ledger, mid, row).model_dump_json().encode()
        sealed_state = pack(state.replace(SEALED_SLOT, b'"personal":' + personal))
        writes.append(((mid, 0), replace(template, states=((topic, sealed_state),))))
    result: Result = {
        "agreement_id": cmd.agreement_id,
        "imported": len(accepted) + len(newcomers),
        "resumed": resumed,
        "rejected": [
            {"line": e.line, "field": e.field, "reason": e.reason} for e in sorted(errors, key=lambda e: e.line)
        ],
    }
    record.accept(ctx, cmd.kind, digest, {**result, "rejected": len(errors)}, on)
    write_in_batches(ledger, writes, last=[record], label=f"enrolling {cmd.agreement_id}",
                     tracking=tracking_for(ledger, ctx, on, cmd.kind, digest, done_before=resumed))
    return result


def _decide_import(ledger: Ledger, cmd: ImportCohort, ctx: CommandContext, on: date) -> ImportDecision:
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
        found = existing.get(mid)  # None: a newcomer, whose Member would be a fresh one (no events, no spell)
        spell = found.open_spell if found is not None else None
        if spell is not None and spell.command_id == ctx.command_id:
            resumed += 1
            continue
        if replicate and (found is None or not found.exists):  # decided per situation: no Member built for it
            key = (row.village_code, row.role, row.declared_income_rp)
            if key not in templates:
                templates[key] = _enrolment_template(ledger, ctx, on, agreement, window, windows, region, row)
            template = templates[key]
            if isinstance(template, LedgerError):
                errors.append(RowError(line, template.field, template.reason))
            else:
                newcomers.append((row, mid, template))
            continue
        member = found if found is not None else Member(mid)
        try:
            plan = _plan(member, on, agreement, window, windows, region, row)
        except LedgerError as err:
            errors.append(RowError(line, err.field, err.reason))
            continue
        accepted.append((row, member, plan))
    return ImportDecision(accepted, newcomers, resumed, errors)


SEALED_SLOT = b'"personal":null'
"""Where a first enrolment's sealed personal data goes in the template event's canonical JSON (the template
holds the plain JSON; each member's copy is packed after its data is put in)."""
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
    plain = encode_state(event)  # packed per member, once its personal data is in the slot
    assert plain.count(SEALED_SLOT) == 1
    return Outcome("write", states=((get_topic(type(event)), plain),), snapshot=snapshot_row(probe))


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
            if not agg.snapshotted:
                return
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


@dataclass
class Tracking:
    """What :func:`write_in_batches` needs to record a bulk command's progress on its run."""

    run: BulkRun
    ctx: CommandContext
    on: date
    command_type: str
    digest: str
    done_before: int


def tracking_for(ledger: Ledger, ctx: CommandContext, on: date, command_type: str, digest: str,
                 done_before: int | None = None) -> Tracking:
    """The command id's run (a rerun of a half-done one must carry the same payload)."""
    run = ledger.store.load(BulkRun, bulk_run_id(ctx.command_id))
    if run.exists:
        run.require_same(command_type, digest)
    before = done_before if done_before is not None else run.state.members_done
    return Tracking(run, ctx, on, command_type, digest, before)


def write_in_batches(
    ledger: Ledger,
    writes: Sequence[tuple[tuple[uuid.UUID, int] | None, Outcome]],
    *,
    first: Sequence[Aggregate[Any]] = (),
    last: Sequence[Aggregate[Any]] = (),
    label: str,
    tracking: Tracking | None = None,
) -> None:
    """Append the decided members' events ``ledger.batch_size`` members per transaction; the ``first``
    and ``last`` aggregates (reservations, the command record) ride in the first and last transaction.
    An outcome carrying its member is saved the object-path way; the others are copied bytes.
    With ``tracking``, a command of more than one batch (or one resumed) records its progress on its
    :class:`BulkRun` in every transaction (docs/rules.md#bulk-progress)."""
    batches = list(_batches(writes, ledger.batch_size)) or [[]]
    tracked = tracking is not None and (tracking.run.exists or len(batches) > 1)
    done = tracking.done_before if tracking is not None else 0
    before, written = done, 0
    _report(before, before + len(writes))
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
            if tracked:
                assert tracking is not None
                t, run, done = tracking, tracking.run, done + len(batch)
                if i == 0:
                    run.begin(t.ctx, command_type=t.command_type, payload_digest=t.digest,
                              members_total=t.done_before + len(writes), on=t.on)
                run.progress(t.ctx, done, t.on)
                if i == len(batches) - 1:
                    run.complete(t.ctx, done, 0, t.on)
                tx.add_aggregate(run)
            for agg in last if i == len(batches) - 1 else []:
                tx.add_aggregate(agg)
            tx.commit()
            written += len(batch)
            _report(before + written, before + len(writes))
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
    resumed_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def members_payable(self) -> int:
        return len(self.writes) + self.resumed

    @property
    def amount_rp(self) -> int:
        return self.resumed_rp + sum(o.amount_rp for _, o in self.writes)


def _payment_decider(
    ledger: Ledger, ctx: CommandContext, agreement: Agreement, period_texts: Sequence[str], on: date,
    payment_reference: str,
) -> Decide:
    """The decision on one member of a cohort payment: ``write`` (paid now), ``resumed`` (paid under this
    reference already), ``paid`` (already paid under another reference) or ``skip`` (another rule)."""
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
            return Outcome("paid", reason=_reason_key(err))
        except LedgerError as err:
            return Outcome("skip", reason=_reason_key(err))
        member.record_payment(ctx, on, decision, payment_reference)
        return Outcome("write", amount_rp=decision.amount_rp)

    return decide


def decide_cohort(
    ledger: Ledger, ctx: CommandContext, agreement_id: str, period_texts: Sequence[str], on: date,
    payment_reference: str, *, verify_heads: bool = True,
) -> tuple[Agreement, CohortDecision]:
    """Decide (and trigger, on each member) the payment of ``periods`` for every member of the cohort.

    The cohort is read in one query (one consistent view of the snapshot rows, which every write path writes
    in the transaction of its events): the amount is decided on it once, before anything is written."""
    agreement = load_agreement(ledger, agreement_id)
    decide = _payment_decider(ledger, ctx, agreement, period_texts, on, payment_reference)
    result = CohortDecision([], Counter(), 0, 0)
    heads = ledger.store.heads(list(ledger.store.snapshots_of_kind("Member", cohort=agreement_id)),
                               verify=verify_heads)
    for head, outcome in outcomes_by_state(ledger, heads, decide):
        if outcome.kind == "write":
            result.writes.append((head, outcome))
        elif outcome.kind == "resumed":
            result.resumed += 1
            result.resumed_rp += outcome.amount_rp
            result.resumed_ids.append(head.aggregate_id)
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


PAY_BATCH_RETRIES = 5
"""Times one batch of a cohort payment is re-decided after losing a race with single payments."""


@dataclass
class _Paying:
    """A cohort payment under way: what is done and what was planned but could not be credited."""

    done: int = 0
    credited_rp: int = 0
    resumed: int = 0
    elsewhere: list[uuid.UUID] = field(default_factory=list)
    lost: Counter[str] = field(default_factory=Counter)
    claims_released: int = 0

    def classify(self, pairs: Iterable[tuple[Head, Outcome]]) -> list[tuple[Head, Outcome]]:
        """The members still to write; the others counted (resumed, paid elsewhere, no longer payable)."""
        writes = []
        for head, outcome in pairs:
            if outcome.kind == "write":
                writes.append((head, outcome))
            elif outcome.kind == "resumed":
                self.done += 1
                self.resumed += 1
                self.credited_rp += outcome.amount_rp
            elif outcome.kind == "paid":
                self.elsewhere.append(head.aggregate_id)
            else:
                self.lost[outcome.reason] += 1
        return writes


def _fresh_heads(ledger: Ledger, ids: Sequence[uuid.UUID]) -> list[Head]:
    rows = ledger.store.snapshots(ids)
    return ledger.store.heads([rows[i] for i in ids if i in rows], verify=True)


def _require_payable(cmd: PayCohort, cohort: CohortDecision) -> None:
    """Refuse a first run that would pay nobody, or whose amount is not the payable cohort's tariff."""
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


def check_pay_cohort(ledger: Ledger, cmd: PayCohort, ctx: CommandContext, on: date) -> int:
    """The members a first run of ``cmd`` would pay, decided as :func:`pay_cohort` decides them and writing
    nothing; refuses as it would (nobody payable, a wrong amount). A rerun of a half-done command id is not
    checked here: it resumes its recorded plan."""
    _, cohort = decide_cohort(ledger, ctx, cmd.agreement_id, cmd.periods, on, cmd.payment_reference)
    _require_payable(cmd, cohort)
    return cohort.members_payable


def pay_cohort(
    ledger: Ledger, cmd: PayCohort, ctx: CommandContext, on: date, record: CommandRecord, digest: str
) -> Result:
    """Pay the cohort for the periods: all of the plan or, visibly, part of it (docs/rules.md#bulk-progress).

    A first run decides the plan and the amount on one view of the cohort and refuses a wrong amount before
    writing anything; its first batch reserves the reference and records the plan. A member paid by someone else
    meanwhile is re-decided with its batch and reported as ``already_paid_elsewhere``; the reference's reserved
    amount minus what was credited is raised as a REFERENCE_SHORTFALL exception (docs/rules.md#reference-shortfall).
    A rerun of a half-done command id (same payload) resumes its plan."""
    agreement = load_agreement(ledger, cmd.agreement_id)
    decide = _payment_decider(ledger, ctx, agreement, cmd.periods, on, cmd.payment_reference)
    run = ledger.store.load(BulkRun, bulk_run_id(cmd.command_id))
    paying = _Paying()
    skipped: dict[str, int] = {}
    fresh = not run.exists
    if not fresh:
        run.require_same(cmd.kind, digest)
        plan = planned_members(ledger.store.events_of(run.id))
        writes = paying.classify(outcomes_by_state(ledger, _fresh_heads(ledger, plan), decide))
        ref = ledger.store.load(PaymentReference, payment_reference_id(cmd.payment_reference))
    else:
        _, cohort = decide_cohort(ledger, ctx, cmd.agreement_id, cmd.periods, on, cmd.payment_reference,
                                  verify_heads=ledger.verify_heads)
        _require_payable(cmd, cohort)
        skipped = dict(sorted(cohort.skipped.items()))
        writes = cohort.writes
        paying.done = paying.resumed = cohort.resumed
        paying.credited_rp = cohort.resumed_rp
        plan = [*cohort.resumed_ids, *(h.aggregate_id for h, _ in writes)]

    batches = list(_batches(writes, ledger.batch_size)) or [[]]
    tracked = not fresh or len(batches) > 1  # one batch is one transaction: nothing to resume

    def start() -> tuple[BulkRun, PaymentReference]:
        """The run and the reference as the first batch of a fresh run writes them."""
        new_run = BulkRun(bulk_run_id(cmd.command_id))
        if tracked:
            new_run.begin(ctx, command_type=cmd.kind, payload_digest=digest, members_total=len(plan), on=on,
                          amount_rp=cmd.amount_rp, payment_reference=cmd.payment_reference, plan=plan)
        return new_run, reserve_reference(ledger, ctx, cmd.payment_reference, agreement.state.payer_id,
                                          cmd.amount_rp, "contribution", on)

    if fresh:
        run, ref = start()
    _report(paying.done, len(plan))
    progress = _progress(len(writes), f"paying {cmd.agreement_id}")
    task = progress.add_task("paying", total=len(writes)) if progress else None
    result: Result = {}
    try:
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            version = 0 if fresh and i == 0 else run.version
            for attempt in range(PAY_BATCH_RETRIES + 1):
                if attempt:  # lost a race: reload what this batch writes, re-decide its members on fresh state
                    if fresh and i == 0:
                        if ledger.store.load(BulkRun, run.id).exists:
                            raise ConcurrencyConflict("command_id", "this command id is being run elsewhere")
                        run, ref = start()
                    else:
                        run = ledger.store.load(BulkRun, run.id)
                        if run.version != version:
                            raise ConcurrencyConflict("command_id", "this command id is being run elsewhere")
                        ref = ledger.store.load(PaymentReference, ref.id)
                    record = ledger.store.load(CommandRecord, record.id)
                    if record.exists:
                        raise ConcurrencyConflict("command_id", "this command id was completed elsewhere")
                    batch = paying.classify(outcomes_by_state(
                        ledger, _fresh_heads(ledger, [h.aggregate_id for h, _ in batch]), decide))
                tx = _Transaction(ledger)
                if fresh and i == 0:
                    tx.add_aggregate(ref)
                released: list[Claim] = []
                for head, outcome in batch:
                    if outcome.member is not None:  # decided on its own: the object path
                        tx.add_aggregate(outcome.member)
                        released += release_held_claims(ledger, ctx, outcome.member, on, cmd.payment_reference)
                    else:
                        tx.add_outcome(head.aggregate_id, head.version, outcome)
                for claim in released:
                    tx.add_aggregate(claim)
                batch_rp = sum(o.amount_rp for _, o in batch)
                done = paying.done + len(batch)
                if tracked:
                    run.progress(ctx, done, on)
                if last:
                    credited_rp = paying.credited_rp + batch_rp
                    elsewhere = sorted(str(m) for m in paying.elsewhere)
                    ref.record_shortfall(ctx, credited_rp=credited_rp, already_paid_elsewhere=elsewhere,
                                         no_longer_payable=dict(sorted(paying.lost.items())), on=on)
                    tx.add_aggregate(ref)
                    if tracked:
                        run.complete(ctx, done, len(elsewhere) + sum(paying.lost.values()), on)
                    result = {
                        "agreement_id": cmd.agreement_id,
                        "periods": list(cmd.periods),
                        "members_paid": done,
                        "resumed": paying.resumed,
                        "amount_rp": credited_rp,
                        "reserved_rp": cmd.amount_rp,
                        "shortfall_rp": cmd.amount_rp - credited_rp,
                        "already_paid_elsewhere": len(elsewhere),
                        "already_paid_elsewhere_members": elsewhere,
                        "no_longer_payable": dict(sorted(paying.lost.items())),
                        "skipped": skipped,
                        "claims_released": paying.claims_released + len(released),
                    }
                    record.accept(ctx, cmd.kind, digest, result, on)
                tx.add_aggregate(run)
                if last:
                    tx.add_aggregate(record)
                try:
                    tx.commit()
                except ConcurrencyConflict:
                    continue
                paying.done, paying.credited_rp = done, paying.credited_rp + batch_rp
                paying.claims_released += len(released)
                _report(paying.done, len(plan))
                break
            else:
                raise ConcurrencyConflict("members", f"batch {i + 1} lost {PAY_BATCH_RETRIES + 1} races; rerun "
                                                     "with the same command id to resume")
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
    finally:
        if progress is not None:
            progress.stop()
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
                     label="sweeping", tracking=tracking_for(ledger, ctx, on, cmd.kind, digest))
    ledger.store.collect_unused_states()  # the periodic job is the natural time to drop unused snapshot states
    return result


BULK_HANDLERS: dict[type[Command], Callable[..., Result]] = {
    ImportCohort: import_cohort,
    PayCohort: pay_cohort,
    Sweep: sweep,
}


def bulk_runs(ledger: Ledger, *, include_completed: bool = False) -> list[Result]:
    """The bulk commands of more than one batch: each one in progress (command id, members done / total), and
    with ``include_completed`` the completed ones too (docs/rules.md#bulk-progress)."""
    out = []
    for head in ledger.store.heads(list(ledger.store.snapshots_of_kind("BulkRun"))):
        run = head.aggregate(BulkRun, ledger.store.mapper)
        s = run.state
        if s.completed and not include_completed:
            continue
        out.append({
            "command_id": s.command_id, "command": s.command_type,
            "status": "completed" if s.completed else "in progress",
            "members_done": s.members_done, "members_total": s.members_total,
            "not_done": s.not_done, "payment_reference": s.payment_reference, "amount_rp": s.amount_rp,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "updated_at": s.updated_at.isoformat() if s.updated_at else None,
            "resume": None if s.completed else f"rerun {s.command_type} with --command-id {s.command_id} "
                                               "and the same arguments",
        })
    return sorted(out, key=lambda r: str(r["started_at"]))


def bulk_command_status(ledger: Ledger, command_id: str) -> Result | None:
    """What the store knows of a command id run as a long job: ``completed`` (its command record: the result),
    ``in progress`` (a run stopped half-way: members done / total; rerunning the same command with the same id
    resumes it), or None. ``actor`` is the principal that started it; ``kind`` its command kind."""
    record = ledger.store.load(CommandRecord, command_record_id(command_id))
    run = ledger.store.load(BulkRun, bulk_run_id(command_id))
    if not record.exists and not run.exists:
        return None
    first = _first_event(ledger, run.id if run.exists else record.id)
    out: Result = {
        "command_id": command_id, "actor": first.actor, "created_at": first.recorded_at,
        "updated_at": run.state.updated_at or first.recorded_at,
        "members_done": run.state.members_done if run.exists else None,
        "members_total": run.state.members_total if run.exists else None,
    }
    if record.exists:
        done = _first_event(ledger, record.id)
        return {**out, "status": "completed", "kind": record.state.command_type, "result": dict(record.state.result),
                "updated_at": max(out["updated_at"], done.recorded_at)}
    return {**out, "status": "in progress", "kind": run.state.command_type, "result": None}


def _first_event(ledger: Ledger, aggregate_id: uuid.UUID) -> Any:
    (stored,) = ledger.store.recorder.select_events(aggregate_id, limit=1)
    return ledger.store.mapper.to_domain_event(stored)

