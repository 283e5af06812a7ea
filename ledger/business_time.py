"""Business time: which calendar day it is for a region, and which days are still in the future.

Indonesia has three time zones and a region's business day is its own (a payment at 00:30 WITA on 1 March is
a March payment in Kota Kendari, while it is still 28 February in Jakarta). Every command and every report
takes "today" and "is that date in the future?" from :func:`business_day`, never from the machine's zone.

Rules (see docs/rules.md#time-zones):

- The zone of a region comes from its province (the first two digits of the Kemendagri code), through the
  dated table :data:`ZONE_RULES` (Keppres 41/1987, in force since 1 January 1988).
- A command or report about one region (an agreement, a member, a payer's agreements) uses that region's
  zone. One that spans regions (a sweep of the whole ledger, a national report) uses :data:`NATIONAL_ZONE`
  (WIB, where the national office keeps its books) for its default date [choice].
- A date is *in the future* for a decision (a command) when it has not begun in the zone the decision is
  taken in; for a national decision, when it has not begun everywhere (it must not decide a day that has
  not started in Jakarta). For a question (a report), a date is in the future when it has not begun
  anywhere in the report's scope: at 00:30 WITA a Kendari auditor may ask about the new day.

Invariants: every function takes an aware instant (``now``) and returns plain calendar dates; the default
date of a command or report is never refused as "in the future" by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from ledger.errors import InvalidInput
from ledger.values import in_force, require_region_code

WIB = ZoneInfo("Asia/Jakarta")
"""Waktu Indonesia Barat, UTC+7: Sumatra, Java, Kalimantan Barat and Tengah."""
WITA = ZoneInfo("Asia/Makassar")
"""Waktu Indonesia Tengah, UTC+8: Bali, Nusa Tenggara, Kalimantan Selatan/Timur/Utara, all of Sulawesi."""
WIT = ZoneInfo("Asia/Jayapura")
"""Waktu Indonesia Timur, UTC+9: Maluku, Maluku Utara, Papua."""

ZONES: Mapping[str, ZoneInfo] = MappingProxyType({"WIB": WIB, "WITA": WITA, "WIT": WIT})
NATIONAL_ZONE = "WIB"
"""The zone of a command or report that spans regions [choice]."""


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """Which zone each province (two-digit Kemendagri code) keeps, from ``valid_from`` on."""

    valid_from: date
    legal_basis: str
    zone_of_province: Mapping[str, str]

    def __post_init__(self) -> None:
        assert set(self.zone_of_province.values()) <= set(ZONES), "every zone must be one of WIB, WITA, WIT"
        assert all(len(p) == 2 and p.isdigit() for p in self.zone_of_province), "provinces are two digits"


def _provinces(zone: str, codes: str) -> dict[str, str]:
    return dict.fromkeys(codes.split(), zone)


ZONE_RULES: tuple[ZoneRule, ...] = (
    ZoneRule(
        valid_from=date(1988, 1, 1),
        legal_basis="Keppres 41/1987 (pembagian wilayah waktu); province codes per Kepmendagri 300.2.2-2138/2025",
        zone_of_province=MappingProxyType({
            # Sumatra, Java, Kalimantan Barat and Tengah
            **_provinces("WIB", "11 12 13 14 15 16 17 18 19 21 31 32 33 34 35 36 61 62"),
            # Bali, NTB, NTT, Kalimantan Selatan/Timur/Utara, Sulawesi
            **_provinces("WITA", "51 52 53 63 64 65 71 72 73 74 75 76"),
            # Maluku, Maluku Utara, the Papua provinces
            **_provinces("WIT", "81 82 91 92 93 94 95 96"),
        }),
    ),
)


def zone_rule_in_force(day: date) -> ZoneRule:
    return in_force(ZONE_RULES, day, "time-zone rule")


def zone_name(region_code: str | None, now: datetime) -> str:
    """The zone (``WIB``/``WITA``/``WIT``) of a region's business day; the national zone for None."""
    assert now.tzinfo is not None, "now must be timezone-aware"
    if region_code is None:
        return NATIONAL_ZONE
    province = region_code.strip()[:2]
    rule = zone_rule_in_force(now.astimezone(WIB).date())
    zone = rule.zone_of_province.get(province)
    if zone is None:
        raise InvalidInput("region_code", f"unknown province {province!r} in {region_code!r}: no time zone is known "
                                          "for it (see docs/rules.md#time-zones)")
    return zone


def has_zone(region_code: str | None, now: datetime) -> bool:
    """Whether the region's province has a zone in the rule in force (False for None or a malformed code)."""
    return province_known(region_code, now.astimezone(WIB).date())


def province_known(region_code: str | None, day: date) -> bool:
    """Whether the region's province is in the zone rule in force on ``day``: the list of provinces the ledger
    knows (False for None or a malformed code)."""
    if not region_code:
        return False
    return region_code.strip()[:2] in zone_rule_in_force(day).zone_of_province


def require_known_region(region_code: str, day: date, field: str = "region_code") -> str:
    """A Kemendagri region code (:func:`ledger.values.require_region_code`) whose province the ledger knows on
    ``day`` (docs/rules.md#regions): ``99.99`` is refused. [choice] Regencies, districts and villages are checked
    for shape only (the ledger holds no dated list of the ~500 regencies)."""
    code = require_region_code(region_code, field)
    if not province_known(code, day):
        raise InvalidInput(field, f"unknown province {code[:2]!r} in {code!r}: not a Kemendagri province "
                                  "(see docs/rules.md#regions)")
    return code


def known_region(region_code: str | None, now: datetime) -> str | None:
    """A region read from recorded state, or None (national rules) when its province has no known zone: a
    command that names such a region itself is refused by :func:`business_day` instead."""
    return region_code if has_zone(region_code, now) else None


def today_in(zone: str, now: datetime) -> date:
    """The calendar day in ``zone`` at the instant ``now``."""
    assert now.tzinfo is not None, "now must be timezone-aware"
    return now.astimezone(ZONES[zone]).date()


@dataclass(frozen=True, slots=True)
class BusinessDay:
    """A resolved business date and the zone it was taken in (shown with the day in reports)."""

    on: date
    zone: str


def business_day(
    now: datetime,
    requested: date | None = None,
    regions: Iterable[str | None] = (None,),
    *,
    field: str = "on",
    question: bool = False,
) -> BusinessDay:
    """The business date of a command (``question=False``) or a report (``question=True``) about ``regions``.

    ``requested`` is the date asked for (``--on``); when None it is today in the zone of the (first) region.
    A requested date in the future (see the module rules) raises :class:`InvalidInput` naming ``field``.
    """
    wanted = list(regions) or [None]
    zones = [zone_name(r, now) for r in wanted]
    zone = zones[0]
    if requested is None:
        return BusinessDay(today_in(zone, now), zone)
    assert isinstance(requested, date) and not isinstance(requested, datetime), "a business date is a calendar date"
    national = None in wanted
    candidates = list(ZONES) if national else sorted(set(zones))
    days = {z: today_in(z, now) for z in candidates}
    # a decision waits for the day to begin in every zone it touches, a question only in one of them
    limit_zone = (max if question else min)(candidates, key=lambda z: (days[z], z))
    limit = days[limit_zone]
    if requested > limit:
        if national:
            where = ("anywhere" if question else "everywhere") + " in Indonesia"
        else:
            where = ("in any of " if question else "everywhere in ") + ", ".join(candidates)
            where = where if len(candidates) > 1 else f"in {candidates[0]}"
        raise InvalidInput(field, f"{requested.isoformat()} is in the future: the day has not begun {where} "
                                  f"(today is {limit.isoformat()} {limit_zone})")
    return BusinessDay(requested, zone)


def parse_day(text: str | None, field: str = "on") -> date | None:
    """A business date as a caller writes it, ``YYYY-MM-DD`` (every face: ``--on``, ``?on=``); None stays None."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"must be a date YYYY-MM-DD, got {text!r}") from None


def parse_instant(text: str | None, field: str = "as_of") -> datetime | None:
    """A recorded-time cut-off as a caller writes it, an ISO timestamp (``--as-of``, ``?as_of=``); without an
    offset it is read in WIB."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"must be an ISO timestamp like 2026-02-05T17:00:00+07:00, got {text!r}") from None
    return value.replace(tzinfo=WIB) if value.tzinfo is None else value
