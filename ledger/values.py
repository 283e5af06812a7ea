"""Value objects of the domain: rupiah, periods, identifiers and the closed vocabularies.

Every value here validates itself on construction and raises :class:`ledger.errors.InvalidInput`
naming the field, so a command can never carry a malformed value into the aggregates.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from ledger.errors import InvalidInput, RuleViolation

RUPIAH_MAX = 10**15
"""Upper bound for any single amount (Rp1 quadrillion): far above any real flow, catches unit slips."""


def format_count(n: int) -> str:
    """A whole number the Indonesian way, thousands grouped with dots: ``1.234``, ``12.200``, ``-5``.

    The one place messages, summaries and terminal views group digits (Indonesian readers take ``1,234`` for
    a decimal). Integers only: a count or an amount of whole rupiah.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"format_count takes an int, got {type(n).__name__}")
    digits = str(abs(n))
    head = len(digits) % 3 or 3
    groups = [digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))]
    return ("-" if n < 0 else "") + ".".join(groups)


def format_rp(amount_rp: int) -> str:
    """Whole rupiah the Indonesian way: ``Rp3.058``, ``Rp2.429.520.000``, ``-Rp16.800`` (sign before ``Rp``)."""
    text = format_count(amount_rp)
    return "-Rp" + text[1:] if amount_rp < 0 else "Rp" + text


def require_rupiah(value: Any, field: str, *, allow_zero: bool = False) -> int:
    """Return ``value`` as whole rupiah, or raise naming ``field``.

    Rupiah are integers: no floats, no decimals, no thousands separators.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be whole rupiah (an integer), got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput(field, f"must be greater than zero, got {value}")
    if value > RUPIAH_MAX:
        raise InvalidInput(field, f"exceeds the limit of {format_rp(RUPIAH_MAX)}")
    return value


class Programme(StrEnum):
    """A BPJS Ketenagakerjaan programme available to BPU (non-wage) members."""

    JKK = "JKK"  # Jaminan Kecelakaan Kerja: work accident and occupational disease
    JKM = "JKM"  # Jaminan Kematian: death (not work-related)
    JHT = "JHT"  # Jaminan Hari Tua: old-age savings


class PayerType(StrEnum):
    """Who pays the contribution (pemberi dana)."""

    APBD_KOTA = "APBD_KOTA"
    APBD_KAB = "APBD_KAB"
    APBD_PROV = "APBD_PROV"
    APBN = "APBN"
    APBDES = "APBDES"
    BAZNAS = "BAZNAS"
    CSR = "CSR"
    DONOR = "DONOR"
    SELF = "SELF"

    @property
    def is_government_budget(self) -> bool:
        """True for state budgets (APBN/APBD/APBDes): excluded from the PP 50/2025 relief."""
        return self in {
            PayerType.APBD_KOTA,
            PayerType.APBD_KAB,
            PayerType.APBD_PROV,
            PayerType.APBN,
            PayerType.APBDES,
        }


class FundSource(StrEnum):
    """The budget line the money comes from (sumber dana); separate from the payer."""

    APBD = "APBD"
    DBH_SAWIT = "DBH_SAWIT"
    APBDES = "APBDES"
    APBN = "APBN"
    ZIS = "ZIS"
    CSR = "CSR"
    DONATION = "DONATION"
    SELF = "SELF"


class BudgetStatus(StrEnum):
    """Expected cost of an agreement's whole window against its budget ceiling (docs/rules.md#budget-thresholds)."""

    WITHIN = "WITHIN"
    WARNING = "WARNING"
    OVER_BUDGET = "OVER_BUDGET"


class BillingCadence(StrEnum):
    MONTHLY = "MONTHLY"
    SEMESTER = "SEMESTER"
    ANNUAL = "ANNUAL"


class LapseReason(StrEnum):
    ARREARS = "ARREARS"
    FUNDING_ENDED = "FUNDING_ENDED"


class ClaimType(StrEnum):
    """Benefit claims (klaim manfaat): docs/rules.md#benefit-tables."""

    JKM_DEATH = "JKM_DEATH"
    JKK_DEATH = "JKK_DEATH"
    JKK_DISABILITY = "JKK_DISABILITY"  # total permanent disability
    JKK_STMB = "JKK_STMB"  # sementara tidak mampu bekerja: temporary inability to work
    JKK_MEDICAL = "JKK_MEDICAL"
    SCHOLARSHIP = "SCHOLARSHIP"  # beasiswa, for up to two children

    @property
    def is_death(self) -> bool:
        return self in {ClaimType.JKM_DEATH, ClaimType.JKK_DEATH}

    @property
    def programme(self) -> Programme:
        return Programme.JKM if self in {ClaimType.JKM_DEATH} else Programme.JKK


class ClaimStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    HELD = "HELD"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAID = "PAID"


class SchoolLevel(StrEnum):
    TK = "TK"
    SD = "SD"
    SMP = "SMP"
    SMA = "SMA"
    UNIVERSITY = "UNIVERSITY"


_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")
_PARSED: dict[str, Period] = {}
_PARSED_MAX = 4_096


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A coverage month, named by the ``YYYY-MM`` in which it starts.

    Invariant: 1 <= month <= 12 and 2000 <= year <= 2100.
    Where the month starts depends on the member's anchor day (see :meth:`start`).
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (2000 <= self.year <= 2100 and 1 <= self.month <= 12):
            raise InvalidInput("period", f"{self.year:04d}-{self.month:02d} is not a valid month")

    @classmethod
    def parse(cls, text: Any, field: str = "period") -> Period:
        if isinstance(text, Period):
            return text
        if isinstance(text, str):
            cached = _PARSED.get(text)
            if cached is not None:
                return cached
        match = _PERIOD_RE.match(str(text).strip())
        if not match:
            raise InvalidInput(field, f"must be YYYY-MM, got {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidInput(field, f"month must be 01..12, got {text!r}")
        if not 2000 <= year <= 2100:
            raise InvalidInput(field, f"year must be 2000..2100, got {text!r}")
        period = cls(year, month)
        if isinstance(text, str) and len(_PARSED) < _PARSED_MAX:
            _PARSED[text] = period
        return period

    @classmethod
    def containing(cls, day: date, anchor_day: int = 1) -> Period:
        """The period whose span (for this anchor day) contains ``day``."""
        this = cls(day.year, day.month)
        return this if day >= this.start(anchor_day) else this - 1

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        """Months since year 0: lets periods be subtracted."""
        return self.year * 12 + self.month - 1

    def __add__(self, months: int) -> Period:
        i = self.index + months
        return Period(i // 12, i % 12 + 1)

    def __sub__(self, months: int) -> Period:
        return self + (-months)

    def months_until(self, other: Period) -> int:
        return other.index - self.index

    def start(self, anchor_day: int = 1) -> date:
        """First day of the period: the anchor day, clamped to the month's last day."""
        if anchor_day <= 28:
            return date(self.year, self.month, anchor_day)
        last = calendar.monthrange(self.year, self.month)[1]
        return date(self.year, self.month, min(anchor_day, last))

    def end(self, anchor_day: int = 1) -> date:
        """Last day of the period: the day before the next period starts."""
        return (self + 1).start(anchor_day) - timedelta(days=1)


def period_range(first: Period, last: Period) -> list[Period]:
    """Every period from ``first`` to ``last`` inclusive (empty if last < first)."""
    return [first + i for i in range(first.months_until(last) + 1)]


_REGION_RE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


def require_region_code(value: Any, field: str = "region_code") -> str:
    """A Kemendagri region code: ``61``, ``61.72``, ``61.72.01`` or ``61.07.01.2001``."""
    text = str(value).strip()
    if not _REGION_RE.match(text):
        raise InvalidInput(field, f"must be a Kemendagri code like 61.72 or 61.07.01.2001, got {value!r}")
    return text


_VILLAGE_RE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")


def require_village_code(value: Any, region_code: str, field: str = "village_code") -> str:
    """A village (desa/kelurahan) code ``PP.KK.CC.DDDD`` inside ``region_code`` (it starts with the region's
    code): a Jakarta village is not in Singkawang (docs/rules.md#regions)."""
    text = str(value).strip()
    if not _VILLAGE_RE.match(text):
        raise InvalidInput(field, f"must be a Kemendagri village code like 61.72.01.1001 (province.regency."
                                  f"district.village), got {value!r}")
    if not text.startswith(region_code + "."):
        raise InvalidInput(field, f"{text} is not in the member's region {region_code}: a village code starts "
                                  "with its region's code")
    return text


class Versioned(Protocol):
    """A version of a rule table: in force from ``valid_from`` until the next version's."""

    @property
    def valid_from(self) -> date: ...


V = TypeVar("V", bound=Versioned)


def in_force(table: Sequence[V], day: date, what: str, field: str = "effective_on") -> V:
    """The version of a rule table (ordered by ``valid_from``) in force on ``day``; the one place every dated
    rule is looked up (tariffs, benefits, coverage, budget thresholds, matching, time zones)."""
    chosen = None
    for version in table:
        if version.valid_from <= day:
            chosen = version
    if chosen is None:
        raise RuleViolation(field, f"no {what} in force on {day.isoformat()}")
    return chosen


def require_not_before(on: date, earliest: date | None, what: str, field: str = "effective_on") -> None:
    """A fact cannot be effective before what it depends on (a payment before the enrolment, an approval before
    the submission): refuse ``on`` when it is before ``earliest`` (see docs/rules.md#business-time)."""
    if earliest is not None and on < earliest:
        raise RuleViolation(field, f"{on.isoformat()} is before {what} ({earliest.isoformat()}); a fact cannot be "
                                   "dated before what it depends on")


def require_kpj(value: Any, field: str = "kpj") -> str:
    """KPJ: the 11-digit BPJS Ketenagakerjaan member number."""
    text = str(value).strip()
    if len(text) != 11 or not text.isdigit():
        raise InvalidInput(field, f"must be 11 digits, got {len(text)} characters")
    return text


def require_code(value: Any, field: str, *, max_len: int = 64) -> str:
    """A business reference (agreement id, payment reference, claim id): printable, bounded."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > max_len:
        raise InvalidInput(field, f"must be at most {max_len} characters")
    if not all(ch.isalnum() or ch in "-_./:" for ch in text):
        raise InvalidInput(field, f"may hold only letters, digits and - _ . / :, got {text!r}")
    return text


class Role(StrEnum):
    """What a principal may do; the commands and reads of each role are in ``commands/authorise.py``."""

    OPERATOR = "operator"
    CLAIMS_OFFICER = "claims-officer"
    FINANCE = "finance"
    BUDGET_OWNER = "budget-owner"
    AUDITOR = "auditor"
    DATA_PROTECTION_OFFICER = "data-protection-officer"
    ADMIN = "admin"


def budget_in_force(budgets: Iterable[tuple[str, int, int]], day: str) -> int | None:
    """The budget ceiling (pagu) in force on ``day`` (ISO): of the budgets given as (ISO day in force from, order,
    rupiah), the last by day and order in force by then; None before the first (docs/rules.md#budget-thresholds)."""
    known = [b for b in budgets if b[0] <= day]
    return max(known)[2] if known else None
