"""The roles (occupations, *jenis pekerjaan*) a BPU member may be enrolled with: one dated table
(docs/rules.md#member-roles).

A role decides the PP 50/2025 relief (``ledger.tariff.ContributionTariff.relief_roles``) and is what the
registers count members by, so it is a closed vocabulary, never free text: an enrolment with a role outside the
list in force on its business day is refused with the list. A new occupation a scheme covers gets a new version
of :data:`ROLE_LISTS` (from its date, with its basis); events recorded under an older list keep their role.

[choice] The list is national, not per agreement: the seed schemes cover farmers,
fishers, palm-oil smallholders, street vendors, RT/RW heads, posyandu cadres, imams and marbot, disaster
volunteers, firefighters, non-civil-servant city staff, ride-hailing drivers and couriers [seed], and every
scheme draws from them. An agreement does not (yet) narrow the list to its own occupations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from ledger.errors import InvalidInput
from ledger.values import in_force

ROLE_LEN_MAX = 64


@dataclass(frozen=True, slots=True)
class RoleList:
    """The roles in force from ``valid_from``: code → what it covers."""

    valid_from: date
    legal_basis: str
    roles: Mapping[str, str]

    def __post_init__(self) -> None:
        assert all(code.isascii() and code.replace("_", "").isalpha() and code.isupper() and len(code) <= ROLE_LEN_MAX
                   for code in self.roles), "a role code is upper-case letters and underscores"


ROLE_LISTS: tuple[RoleList, ...] = (
    RoleList(
        valid_from=date(2015, 7, 1),
        legal_basis="Permenaker 5/2021 (BPU: pekerja di luar hubungan kerja); the occupations of the seed schemes",
        roles=MappingProxyType({
            "PETANI": "farmer",
            "BURUH_TANI": "farm labourer",
            "PEKEBUN_SAWIT": "palm-oil smallholder",
            "PEKERJA_SAWIT": "palm-oil plantation worker",
            "PETERNAK": "livestock farmer",
            "NELAYAN": "fisher",
            "BURUH_HARIAN": "day labourer",
            "PEDAGANG": "trader",
            "PEDAGANG_KAKI_LIMA": "street vendor",
            "PENGRAJIN": "craftsperson",
            "KETUA_RT": "head of a neighbourhood (RT)",
            "KETUA_RW": "head of a community unit (RW)",
            "KADER_POSYANDU": "community health post cadre",
            "PEKERJA_SOSIAL_KEAGAMAAN": "religious and social worker",
            "IMAM": "imam",
            "MARBOT": "mosque caretaker",
            "GURU_NGAJI": "Quran teacher",
            "RELAWAN_TRC": "disaster rapid-response volunteer",
            "PEMADAM_KEBAKARAN": "firefighter",
            "SATPOL_PP": "municipal police (non-civil-servant)",
            "TENAGA_RSUD": "regional hospital staff (non-civil-servant)",
            "STAF_DISKOMINFO": "communications office staff (non-civil-servant)",
            "OJOL_DRIVER": "ride-hailing driver",
            "COURIER": "courier",
        }),
    ),
)


def roles_in_force(day: date) -> RoleList:
    return in_force(ROLE_LISTS, day, "role list")


def require_role(value: object, on: date, field: str = "role") -> str:
    """The role code (upper-cased, stripped) if the list in force on ``on`` has it; else :class:`InvalidInput`
    naming ``field`` with the known roles."""
    text = str(value).strip().upper() if value is not None else ""
    known = roles_in_force(on).roles
    if text not in known:
        shown = repr(text) if len(text) <= ROLE_LEN_MAX and text.isprintable() else "this value"
        raise InvalidInput(field, f"{shown} is not a known role on {on.isoformat()}; known: {', '.join(sorted(known))}")
    return text
