"""`jamsos demo`: the seed schemes (docs/rules.md#seed-scenarios), played month by month on a simulated clock.

Everything goes through the same commands as the CLI (import, quote + pay, claims, sweeps); the demo
only plays the payers, the heirs and the calendar. It ends by adding three web users with passwords
(:mod:`cli.demo_users`). Members are synthetic, with valid-shaped,
deterministic NIKs. Figures it prints are read back from the ledger, never typed in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from cli.demo_users import WEB_USERS, add_web_users, demo_passwords
from cli.render import rp
from commands import bulk
from commands.authorise import Actor, local_actor, new_token, role_for
from commands.handlers import execute
from commands.messages import (
    AddPrincipal,
    ApproveClaim,
    BillAgreement,
    CarryInJht,
    CohortRow,
    Command,
    ImportCohort,
    ImportStatement,
    PayClaim,
    PayCohort,
    RecordWorkforce,
    RunReconciliation,
    SignAgreement,
    SubmitClaim,
    Sweep,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import InvalidInput
from ledger.principal import Scope
from ledger.values import BillingCadence, ClaimType, FundSource, PayerType, Period, Role, format_count, period_range
from projections.ledger_views import agreement_views, member_view

DEMO_START = date(2025, 1, 2)
DEMO_END = date(2026, 11, 20)
PAY_DAY = 5
KARYA_BHAKTI_VILLAGE = "61.07.01.2001"
"""Desa Karya Bhakti, Kab. Bengkayang: the village of the seed heir case."""


@dataclass(frozen=True)
class Scheme:
    """A demo funding agreement (docs/rules.md#seed-scenarios)."""

    code: str
    name: str
    payer_id: str
    payer_name: str
    payer_type: PayerType
    fund_source: FundSource
    legal_basis: str
    region: str
    first: str
    last: str
    cohort: int
    roles: tuple[str, ...]
    cadence: BillingCadence
    signed_on: date
    budget_rp: int | None = None
    villages: int = 0


SCHEMES = (
    Scheme("BKY-DESA-2025", "1 Desa 100 Pekerja Rentan", "PEMKAB-BKY", "Pemkab Bengkayang", PayerType.APBD_KAB,
           FundSource.APBD, "Perbup Bengkayang 2025", "61.07", "2025-01", "2025-12", 12_200,
           ("PETANI", "NELAYAN", "BURUH_HARIAN"), BillingCadence.ANNUAL, date(2025, 1, 2), 2_429_520_000, villages=122),
    Scheme("BKY-SAWIT-2025", "Perlindungan Pekerja Sawit (DBH Sawit)", "PEMKAB-BKY", "Pemkab Bengkayang",
           PayerType.APBD_KAB, FundSource.DBH_SAWIT, "Perbup Bengkayang 2025 (DBH Sawit)", "61.07", "2025-01",
           "2025-12", 2_100, ("PEKERJA_SAWIT",), BillingCadence.ANNUAL, date(2025, 1, 2)),
    Scheme("PNK-SOSIAL-2025", "Perlindungan Pekerja Sosial Kemasyarakatan 2025", "PEMKOT-PNK", "Pemkot Pontianak",
           PayerType.APBD_KOTA, FundSource.APBD, "Perwali Pontianak 2025", "61.71", "2025-01", "2025-12", 1_751,
           ("KETUA_RT", "KETUA_RW", "KADER_POSYANDU", "PEKERJA_SOSIAL_KEAGAMAAN", "RELAWAN_TRC", "PEMADAM_KEBAKARAN"),
           BillingCadence.ANNUAL, date(2025, 1, 2)),
    Scheme("KDI-APBD-2025", "Perlindungan Pegawai Non-ASN Kota Kendari", "PEMKOT-KDI", "Pemkot Kendari",
           PayerType.APBD_KOTA, FundSource.APBD, "Perwali Kendari 2025", "74.71", "2025-01", "2025-12", 400,
           ("SATPOL_PP", "TENAGA_RSUD", "PEMADAM_KEBAKARAN", "STAF_DISKOMINFO"), BillingCadence.MONTHLY,
           date(2025, 1, 2)),
    Scheme("KDI-BAZNAS-2025", "Perlindungan Imam dan Marbot", "BAZNAS-KDI", "BAZNAS Kota Kendari", PayerType.BAZNAS,
           FundSource.ZIS, "MoU BAZNAS Kota Kendari 2025", "74.71", "2025-12", "2026-11", 500, ("IMAM", "MARBOT"),
           BillingCadence.MONTHLY, date(2025, 12, 1)),
    Scheme("SKW-RENTAN-2025", "Program Perlindungan Pekerja Rentan", "PEMKOT-SKW", "Pemkot Singkawang",
           PayerType.APBD_KOTA, FundSource.APBD, "Perwali Singkawang 2025", "61.72", "2025-12", "2026-04", 7_737,
           ("PETANI", "NELAYAN", "PEDAGANG_KAKI_LIMA", "BURUH_HARIAN"), BillingCadence.MONTHLY, date(2025, 12, 15)),
    Scheme("SKW-SAWIT-2025", "Program Perlindungan Pekerja Sawit", "PEMKOT-SKW", "Pemkot Singkawang",
           PayerType.APBD_KOTA, FundSource.DBH_SAWIT, "Perwali Singkawang 2025 (DBH Sawit)", "61.72", "2025-12",
           "2026-11", 767, ("PEKEBUN_SAWIT",), BillingCadence.MONTHLY, date(2025, 12, 15)),
    Scheme("PNK-SOSIAL-2026", "Perlindungan Pekerja Sosial Kemasyarakatan 2026", "PEMKOT-PNK", "Pemkot Pontianak",
           PayerType.APBD_KOTA, FundSource.APBD, "MoU 11 Feb 2026", "61.71", "2026-02", "2027-01", 5_747,
           ("KETUA_RT", "KETUA_RW", "KADER_POSYANDU", "PEKERJA_SOSIAL_KEAGAMAAN", "RELAWAN_TRC", "PEMADAM_KEBAKARAN"),
           BillingCadence.MONTHLY, date(2026, 2, 11)),
)

# Pontianak 2025: 73 claims paid. The mix is a [choice]; the amounts come from the benefit rules.
PNK_JKM_DEATHS = 60
PNK_JKK_DEATHS = 5
PNK_MEDICAL = 8
PNK_MEDICAL_COST_RP = 20_000_000
PNK_HOME_CARE_RP = 3_750_000
# Kendari: two non-civil-servant employees died at work; income and JHT balance are recorded facts.
@dataclass(frozen=True)
class KendariHeirCase:
    """A recorded fact set: declared income, JHT balance brought in, date of the fatal work accident."""

    income_rp: int
    jht_rp: int
    died: date


KDI_HEIRS = (
    KendariHeirCase(income_rp=1_800_000, jht_rp=4_600_000, died=date(2025, 8, 12)),
    KendariHeirCase(income_rp=3_500_000, jht_rp=17_000_000, died=date(2025, 10, 3)),
)


def synthetic_nik(region: str, i: int) -> str:
    """A valid-shaped, deterministic NIK for person ``i`` (unique for i < 89,991)."""
    reg = region.replace(".", "")[:4]
    district = 1 + (i // 9_999) % 9
    day = 1 + (i // 7) % 28 + (40 if i % 2 else 0)
    month = 1 + (i // 3) % 12
    year = 60 + i % 40
    return f"{reg}{district:02d}{day:02d}{month:02d}{year:02d}{1 + i % 9_999:04d}"


@dataclass
class Person:
    nik: str
    name: str
    role: str
    village: str | None
    income_rp: int | None = None


@dataclass
class DemoRun:
    ledger: Ledger
    clock: SimulatedClock
    scale: float
    quiet: bool
    statements_dir: Path
    people: dict[str, list[Person]] = field(default_factory=dict)
    counter: int = 0
    log: list[str] = field(default_factory=list)
    invoices: dict[tuple[str, str], str] = field(default_factory=dict)
    """(agreement, period) → invoice that billed it."""
    transfers: dict[str, list[tuple[str, date, int, str]]] = field(default_factory=dict)
    """Payer → its transfers to BPJS: (SP2D, date, amount, description), as its bank statement shows them."""
    actors: dict[Role, Actor] = field(default_factory=dict)
    """The demo's principals, one per role, added by the local admin when the demo starts."""
    tokens: dict[str, str] = field(default_factory=dict)
    """Their tokens, by name (never stored: only their hashes are in the log)."""
    executor: Executor | None = None
    """How a command is run: in process by default (``execute``); a replay through another face passes its own."""

    def say(self, text: str) -> None:
        self.log.append(text)
        if not self.quiet:
            print(text, flush=True)

    def at(self, day: date) -> None:
        self.clock.set_day(day)

    def run(self, command: Command, face_input: dict[str, str] | None = None) -> dict[str, Any]:
        """Run ``command`` as the demo's principal of the role it needs (a claim is submitted by the operator and
        approved by the claims officer: four eyes). ``face_input``: what a face takes that the command carries only
        derived (a password, of which the command has the hash)."""
        role = role_for(command.kind)  # type: ignore[attr-defined]
        if role not in self.actors:
            name = f"demo-{role.value}"
            token, digest = new_token(name)
            self.tokens[name] = token
            self.run_as(local_actor(), AddPrincipal(
                command_id=f"demo:principal:{name}", name=name, roles=[role], scope="all",
                description=f"the demo's {role.value}", token_sha256=digest))
            self.actors[role] = Actor(name, frozenset({role}), Scope("all"))
        return self.run_as(self.actors[role], command, face_input)

    def run_as(self, actor: Actor, command: Command, face_input: dict[str, str] | None = None) -> dict[str, Any]:
        if self.executor is not None:
            return self.executor(actor, command, self.tokens.get(actor.name), face_input)
        return execute(self.ledger, command, actor)

    def size(self, n: int) -> int:
        return max(1, round(n * self.scale))

    def new_people(self, scheme: Scheme, n: int) -> list[Person]:
        out = []
        for k in range(n):
            i = self.counter
            self.counter += 1
            village = None
            if scheme.villages:
                v = k * scheme.villages // n
                village = f"{scheme.region}.{1 + v // 20:02d}.{2001 + v % 20:04d}"
            out.append(Person(synthetic_nik(scheme.region, i), f"Peserta {scheme.code} {k + 1:05d}",
                              scheme.roles[k % len(scheme.roles)], village))
        return out


def _sign(d: DemoRun, s: Scheme, cohort: int) -> None:
    months = len(period_range(Period.parse(s.first), Period.parse(s.last)))
    if s.budget_rp is None:
        budget = _budget_with_headroom(cohort, months)
    else:  # a real budget: at a reduced scale, the same fraction of the scaled cost (Bengkayang stays short)
        full_cost_rp = s.cohort * 16_800 * months
        budget = s.budget_rp if d.scale == 1.0 else cohort * 16_800 * months * s.budget_rp // full_cost_rp
    d.at(s.signed_on)
    d.run(SignAgreement(
        command_id=f"demo:sign:{s.code}", effective_on=s.signed_on, agreement_id=s.code, name=s.name,
        payer_id=s.payer_id, payer_name=s.payer_name, payer_type=s.payer_type, fund_source=s.fund_source,
        legal_basis=s.legal_basis, region_code=s.region, first_period=s.first, last_period=s.last,
        billing_cadence=s.cadence, budget_rp=budget, cohort_planned=cohort,
    ))


BUDGET_HEADROOM_PCT = 130
"""[choice] Where the reports give no budget, the demo's APBD ceiling has 30 % headroom over cohort × Rp16,800
× months, rounded up to a million (so only Bengkayang's real, short budget is flagged)."""


def _budget_with_headroom(cohort: int, months: int) -> int:
    return -(-cohort * 16_800 * months * BUDGET_HEADROOM_PCT // 100 // 1_000_000) * 1_000_000


def _import(d: DemoRun, s: Scheme, people: list[Person], on: date) -> None:
    d.at(on)
    rows = [(n + 2, CohortRow(nik=p.nik, name=p.name, village_code=p.village, role=p.role,
                              declared_income_rp=p.income_rp)) for n, p in enumerate(people)]
    result = d.run(ImportCohort(command_id=f"demo:import:{s.code}", effective_on=on,
                                agreement_id=s.code, rows=rows))
    d.people[s.code] = people
    d.say(f"{on}  {s.code}: enrolled {format_count(result['imported'])} members")


def _bill(d: DemoRun, code: str, period: str, on: date) -> str:
    """The invoice of the block containing ``period`` (issued once, a few days before the payment)."""
    if (code, period) not in d.invoices:
        d.at(on)
        result = d.run(BillAgreement(command_id=f"demo:bill:{code}:{period}", effective_on=on,
                                     agreement_id=code, period=period))
        for p in result["periods"]:
            d.invoices[(code, p)] = result["invoice"]
        if result["budget_status"] != "WITHIN":
            d.say(f"{on}  {code}: invoice {result['invoice']} {rp(result['amount_rp'])}; budget "
                  f"{result['budget_status']}: window costs {rp(result['expected_window_rp'])} against a budget of "
                  f"{rp(result['budget_rp'])}")
    return d.invoices[(code, period)]


def _pay(d: DemoRun, code: str, periods: list[str], on: date) -> None:
    invoice = _bill(d, code, periods[0], date.fromordinal(on.toordinal() - 1))
    d.at(on)
    quote = bulk.quote_cohort(d.ledger, code, periods, on)
    if quote["members_payable"] == 0:
        return
    ref = f"SP2D/{code}/{periods[0]}" + (f"-{periods[-1]}" if len(periods) > 1 else "")
    d.run(PayCohort(command_id=f"demo:pay:{ref}", effective_on=on, agreement_id=code,
                    periods=periods, amount_rp=quote["amount_rp"], payment_reference=ref))
    payer = next(s.payer_id for s in SCHEMES if s.code == code)
    d.transfers.setdefault(payer, []).append((ref, on, quote["amount_rp"], f"Iuran BPU {invoice}"))
    d.say(f"{on}  {code}: paid {', '.join([periods[0], periods[-1]] if len(periods) > 1 else periods)} "
          f"for {format_count(quote['members_payable'])} members, {rp(quote['amount_rp'])}")


def _claim(d: DemoRun, claim_id: str, nik: str, claim_type: ClaimType, died: date, **facts: Any) -> dict[str, Any]:
    submitted = date.fromordinal(died.toordinal() + 6)
    d.at(submitted)
    d.run(SubmitClaim(command_id=f"demo:claim:{claim_id}", effective_on=submitted,
                      claim_id=claim_id, nik=nik, claim_type=claim_type, event_date=died, **facts))
    approved = date.fromordinal(submitted.toordinal() + 8)
    d.at(approved)
    result = d.run(ApproveClaim(command_id=f"demo:approve:{claim_id}", effective_on=approved,
                                claim_id=claim_id))
    paid = date.fromordinal(approved.toordinal() + 5)
    d.at(paid)
    d.run(PayClaim(command_id=f"demo:payout:{claim_id}", effective_on=paid, claim_id=claim_id,
                   payment_reference=f"BPJS-PAYOUT/{claim_id}"))
    return result


class Executor(Protocol):
    """Runs a command as a principal (whose token it is given, None for the server's local admin); ``face_input``
    is what the face takes instead of a derived field of the command (the password whose hash it carries)."""

    def __call__(self, actor: Actor, command: Command, token: str | None,
                 face_input: dict[str, str] | None = None) -> dict[str, Any]: ...


def run_demo(store: str = "jamsos.db", *, scale: float = 1.0, quiet: bool = False,
             executor_for: Callable[[Ledger], Executor] | None = None) -> dict[str, Any]:
    """Play the seed scenario into a fresh store; return the figures read back from it. ``executor_for`` gives the
    executor of the commands for the opened ledger (the HTTP replay in the tests); by default they run in process."""
    if not 0 < scale <= 1:
        raise InvalidInput("scale", "must be in (0, 1]")
    path = Path(store.removeprefix("sqlite:///"))
    if "://" not in store or store.startswith("sqlite:"):
        for suffix in ("", "-wal", "-shm"):
            stale = Path(str(path) + suffix)
            if stale.exists():
                raise InvalidInput("store", f"{path} already exists: the demo needs a fresh store (delete it first)")
    passwords = demo_passwords()  # refused before anything is played
    clock = SimulatedClock(bootstrap_instant())
    statements = path.parent / "statements" if "://" not in store or store.startswith("sqlite:") else \
        Path(tempfile.mkdtemp(prefix="jamsos-demo-statements-"))
    folder = path.parent if statements == path.parent / "statements" else statements
    ledger = bootstrap(store, clock=clock)
    if ledger.store.max_notification_id():
        ledger.close()
        raise InvalidInput("store", "already holds events: the demo needs a fresh store")
    bulk.SHOW_PROGRESS = not quiet
    d = DemoRun(ledger, clock, scale, quiet, statements)
    if executor_for is not None:
        d.executor = executor_for(ledger)
    try:
        _play(d)
        web_users = add_web_users(d, SCHEMES, passwords, folder)
        d.say(f"{DEMO_END}  web users {', '.join(u.name for u in WEB_USERS)}: their passwords are in {web_users}")
        summary = _summary(d)
        summary["web_users"] = [u.name for u in WEB_USERS]
        summary["web_users_file"] = str(web_users)
        summary["read_models"] = _catch_up_read_models(d)
        return summary
    finally:
        ledger.close()


def _catch_up_read_models(d: DemoRun) -> dict[str, int]:
    """Every read model of ``projections.registry`` at the log's head (one read of the log for all): the demo
    ends with nothing left for `jamsos project run` to do. Returns each one's position."""
    from projections.registry import PROJECTIONS
    from projections.runner import ProjectionGroup, ProjectionRunner, views_engine

    store = d.ledger.store
    runners = [ProjectionRunner(store, views_engine(store), factory) for _, factory in sorted(PROJECTIONS.items())]
    ProjectionGroup(runners).catch_up()
    positions = {r.name: int(r.status()["position"]) for r in runners}
    d.say(f"{DEMO_END}  read models at the head of the log (position {format_count(store.max_notification_id())}): "
          + ", ".join(sorted(positions)))
    return positions


def bootstrap_instant() -> datetime:
    """08:00 WIB on the first day of the demo: where its simulated clock starts."""
    return datetime(DEMO_START.year, DEMO_START.month, DEMO_START.day, 8, tzinfo=WIB)


def _month_days(first: date, last: date) -> list[date]:
    out, p = [], Period(first.year, first.month)
    while p.start() <= last:
        out.append(p.start())
        p = p + 1
    return out


WORKFORCE = {"61.72": 118_000, "61.07": 132_000, "61.71": 352_000, "74.71": 196_000}
"""[choice] Working population per region for the UCJ report (demo figures, not BPS data)."""


def _play(d: DemoRun) -> None:
    by_code = {s.code: s for s in SCHEMES}
    d.at(DEMO_START)
    for region, workers in WORKFORCE.items():
        d.run(RecordWorkforce(command_id=f"demo:workforce:{region}", effective_on=DEMO_START,
                              region_code=region, workforce=workers, source="demo figure"))
    for s in SCHEMES:
        if s.signed_on == DEMO_START:
            _sign(d, s, d.size(s.cohort))
    for code in ("BKY-DESA-2025", "BKY-SAWIT-2025", "PNK-SOSIAL-2025", "KDI-APBD-2025"):
        s = by_code[code]
        people = d.new_people(s, d.size(s.cohort))
        if code == "KDI-APBD-2025":
            for heir, facts in zip(people, KDI_HEIRS, strict=False):
                heir.income_rp = facts.income_rp
        _import(d, s, people, date(2025, 1, 6))
    for code in ("BKY-DESA-2025", "BKY-SAWIT-2025", "PNK-SOSIAL-2025"):
        _pay(d, code, [str(p) for p in period_range(Period(2025, 1), Period(2025, 12))], date(2025, 1, 10))
    _pay(d, "KDI-APBD-2025", ["2025-01"], date(2025, 1, 10))  # monthly from here on, like the others
    d.at(date(2025, 1, 20))
    for n, (heir, facts) in enumerate(zip(d.people["KDI-APBD-2025"], KDI_HEIRS, strict=False)):
        d.run(CarryInJht(command_id=f"demo:jht:{n}", effective_on=date(2025, 1, 20), nik=heir.nik,
                         amount_rp=facts.jht_rp, source="JHT balance from earlier membership"))
    pnk = d.people["PNK-SOSIAL-2025"]
    n_jkm, n_jkk, n_med = (min(d.size(x), len(pnk)) for x in (PNK_JKM_DEATHS, PNK_JKK_DEATHS, PNK_MEDICAL))
    pnk_claims: dict[int, list[tuple[int, str]]] = {}
    for k in range(n_jkm + n_jkk + n_med):
        kind = "JKM" if k < n_jkm else "JKK" if k < n_jkm + n_jkk else "MED"
        pnk_claims.setdefault(1 + k % 12, []).append((k, kind))
    deceased_pnk: set[str] = set()
    for month_start in _month_days(date(2025, 1, 1), DEMO_END):
        m = Period(month_start.year, month_start.month)
        for s in SCHEMES:
            if s.signed_on.year == m.year and s.signed_on.month == m.month and s.signed_on != DEMO_START:
                _sign(d, s, d.size(s.cohort))
                people = d.new_people(s, d.size(s.cohort))
                if s.code == "PNK-SOSIAL-2026":
                    survivors = [p for p in pnk if p.nik not in deceased_pnk]
                    people = survivors[: len(people)] + people[len(survivors):]
                _import(d, s, people, s.signed_on)
                _pay(d, s.code, [str(m)], date.fromordinal(s.signed_on.toordinal() + 1))
        for s in SCHEMES:
            monthly_due = s.cadence is BillingCadence.MONTHLY and s.code in d.people and s.signed_on < m.start()
            if monthly_due and Period.parse(s.first) <= m <= Period.parse(s.last):
                _pay(d, s.code, [str(m)], date(m.year, m.month, PAY_DAY))
        if m == Period(2025, 5):
            heir = next(p for p in d.people["BKY-DESA-2025"] if p.village == KARYA_BHAKTI_VILLAGE)
            result = _claim(d, "BKY-JKM-2025-0001", heir.nik, ClaimType.JKM_DEATH, date(2025, 5, 14),
                            heir_name="Ahli waris Desa Karya Bhakti")
            d.say(f"2025-05  Bengkayang heir case (Desa Karya Bhakti): JKM approved {rp(result['amount_rp'])} "
                  f"{result['components']}")
        if m.year == 2025:
            for k, kind in pnk_claims.get(m.month, []):
                person = pnk[k]
                event_day = date(2025, m.month, 8)
                if kind == "MED":
                    person = pnk[len(pnk) - 1 - k]
                    _claim(d, f"PNK-2025-{k + 1:03d}", person.nik, ClaimType.JKK_MEDICAL, event_day,
                           medical_cost_rp=PNK_MEDICAL_COST_RP, home_care_cost_rp=PNK_HOME_CARE_RP, home_care_days=30)
                else:
                    ctype = ClaimType.JKM_DEATH if kind == "JKM" else ClaimType.JKK_DEATH
                    _claim(d, f"PNK-2025-{k + 1:03d}", person.nik, ctype, event_day)
                    deceased_pnk.add(person.nik)
            for n, (heir, facts) in enumerate(zip(d.people["KDI-APBD-2025"], KDI_HEIRS, strict=False)):
                died = facts.died
                if died.month == m.month:
                    result = _claim(d, f"KDI-JKK-2025-{n + 1:04d}", heir.nik, ClaimType.JKK_DEATH, died)
                    d.say(f"{died:%Y-%m}  Kendari JKK death: heirs receive {rp(result['amount_rp'])} "
                          f"{result['components']}")
        month_end = (m + 1).start() - (date(2000, 1, 2) - date(2000, 1, 1))
        if month_end <= DEMO_END:
            d.at(month_end)
            result = d.run(Sweep(command_id=f"demo:sweep:{month_end}", effective_on=month_end))
            if result["lapsed"]:
                d.say(f"{month_end}  sweep: lapsed {result['lapsed']}")
    d.at(DEMO_END)
    _reconcile(d)


STRAY_TRANSFER = ("SP2D/PEMKOT-SKW/KOREKSI-01", date(2026, 3, 17), 50_400, "koreksi pembayaran")
"""[choice] One transfer in Singkawang's statement that no invoice explains: it lands in suspense."""


def _reconcile(d: DemoRun) -> None:
    """Each payer's bank statement of its transfers (written as a CSV file beside the store), imported and
    matched to the invoices."""
    from commands.statement_file import read_statement

    folder = d.statements_dir
    folder.mkdir(parents=True, exist_ok=True)
    for payer, transfers in sorted(d.transfers.items()):
        lines = sorted(transfers + ([STRAY_TRANSFER] if payer == "PEMKOT-SKW" else []), key=lambda t: (t[1], t[0]))
        first, last = lines[0][1], lines[-1][1]
        path = folder / f"{payer}.csv"
        text = [f"# period: {date(first.year, first.month, 1)}..{last}", "sp2d_number,date,amount,description"]
        text += [f"{ref},{day},{amount},{description}" for ref, day, amount, description in lines]
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        parsed = read_statement(path)
        d.run(ImportStatement(command_id=f"demo:statement:{payer}", effective_on=DEMO_END,
                              **parsed.import_fields(payer, path.name)))
    result = d.run(RunReconciliation(command_id="demo:reconcile", effective_on=DEMO_END))
    d.say(f"{DEMO_END}  reconciliation: {format_count(result['matched'])} transfers matched "
          f"({rp(result['matched_rp'])}), "
          f"{result['exceptions']} exception(s) in suspense; statements in {folder}")


def _summary(d: DemoRun) -> dict[str, Any]:
    ledger = d.ledger
    skw = ("SKW-RENTAN-2025", "SKW-SAWIT-2025")
    days = (date(2026, 1, 31), date(2026, 5, 31))
    asked = [(s.code, DEMO_END) for s in SCHEMES] + [(c, day) for day in days for c in skw]
    views = dict(zip(asked, agreement_views(ledger, asked, None), strict=True))  # one pass over the members
    agreements = {}
    for s in SCHEMES:
        view = views[(s.code, DEMO_END)]
        agreements[s.code] = {k: view[k] for k in ("members_enrolled", "contributions_paid_rp", "refunds_due_rp",
                                                   "budget_rp", "window")}

    def active(on: date) -> int:
        return sum(views[(c, on)]["members_active_on"] for c in skw)

    heir = next(p for p in d.people["BKY-DESA-2025"] if p.village == KARYA_BHAKTI_VILLAGE)
    heir_view = member_view(ledger, heir.nik, date(2025, 5, 31), None)
    pnk_claims = [c for p in d.people["PNK-SOSIAL-2025"] for c in _claims_of(ledger, p.nik)
                  if c["claim_id"].startswith("PNK-2025-")]
    kdi = [c for p in d.people["KDI-APBD-2025"][: len(KDI_HEIRS)] for c in _claims_of(ledger, p.nik)]
    return {
        "store": ledger.store.settings.url,
        "events_recorded": ledger.store.max_notification_id(),
        "agreements": agreements,
        "singkawang_active_2026_01_31": active(date(2026, 1, 31)),
        "singkawang_active_2026_05_31": active(date(2026, 5, 31)),
        "singkawang_contributions_rp": sum(agreements[c]["contributions_paid_rp"] for c in skw),
        "bengkayang_heir": {
            "member_id": heir_view["member_id"],
            "nik": heir.nik,
            "claims": heir_view["claims"],
            "refunds_due": heir_view["refunds_due"],
            "refund_due_rp": heir_view["refund_due_rp"],
        },
        "pontianak_2025_claims": {"count": len(pnk_claims), "paid_rp": sum(c["amount_rp"] for c in pnk_claims
                                                                           if c["status"] == "PAID")},
        "kendari_death_benefits_rp": [c["amount_rp"] for c in kdi],
        "money": _money(ledger),
    }


def _money(ledger: Ledger) -> dict[str, Any]:
    """Budget, expected, billed, paid and received per seed agreement, read back from the journal."""
    from projections.money_views import MoneyViews, checks, reconciliation_report

    views = MoneyViews(ledger.store)
    out: dict[str, Any] = {}
    for s in SCHEMES:
        _, totals = reconciliation_report(views, s.code, DEMO_END)
        out[s.code] = totals
    check = checks(views, DEMO_END, None)
    return {"agreements": out, "singkawang_expected_rp": sum(out[c]["expected_rp"] for c in
                                                             ("SKW-RENTAN-2025", "SKW-SAWIT-2025")),
            "journal_ok": check["ok"], "journal_debit_rp": check["debit_rp"], "journal_credit_rp": check["credit_rp"],
            "open_items": check["open_items"]["rows"]}


def _claims_of(ledger: Ledger, nik: str) -> list[dict[str, Any]]:
    view: dict[str, Any] = member_view(ledger, nik, None, None)
    claims: list[dict[str, Any]] = view["claims"]
    return claims


