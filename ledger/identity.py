"""Identity and personal data (UU 27/2022): NIK shape, pseudonymous ids, the cipher port
(docs/rules.md#personal-data).

Invariants:
- No readable NIK, name, birth date or address ever enters an event. Events carry the member id
  (a keyed hash of the NIK) and :class:`SealedPersonalData` (ciphertext under the member's own key).
- The keyed hash needs the pepper, kept with the keys and never in the log: the id alone reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import date
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from stdnum import numdb

from ledger.errors import InvalidInput

NS_MEMBER = uuid.UUID("6a1f0c52-3b8e-4d6e-9f0a-0d3e8f1b2c41")
NIK_LENGTH = 16


def validate_nik(value: object, field: str = "nik") -> str:
    """Return the NIK if its shape is valid: ``PP KK CC DDMMYY SSSS``.

    Checks length, digits only, a known province, a real birth date (women: day + 40) and a
    non-zero serial. Its digits are never read as a current address.
    """
    text = str(value).strip() if value is not None else ""
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(field, "must contain digits only (16 digits, no letters or separators)")
    if len(text) != NIK_LENGTH:
        raise InvalidInput(field, f"must be {NIK_LENGTH} digits, got {len(text)}")
    if not numdb.get("id/loc").info(text[:4])[0][1]:
        raise InvalidInput(field, f"province code {text[:2]} is not a known Kemendagri province")
    day, month, year2 = int(text[6:8]), int(text[8:10]), int(text[10:12])
    if day > 40:
        day -= 40
    if birth_date_from_parts(day, month, year2) is None:
        raise InvalidInput(field, f"birth date {text[6:12]} (DDMMYY, women day+40) is not a real date")
    if text[12:] == "0000":
        raise InvalidInput(field, "serial (last 4 digits) must not be 0000")
    return text


BIRTH_DATE_MIN = date(1900, 1, 1)
"""[choice] The earliest birth date accepted: the BPU rules the ledger follows set no age limit, so only an absurd
date (a typing slip) is refused."""


def check_birth_date(birth_date: date | None, nik: str | None = None, on: date | None = None,
                     field: str = "birth_date") -> None:
    """A member's birth date (docs/rules.md#birth-date): not before :data:`BIRTH_DATE_MIN`, not after ``on`` (the
    enrolment's business day, itself never in the future), and the same day as the NIK's digits 7-12 (DDMMYY,
    women day + 40) when both are given. The reasons do not repeat the dates (personal data)."""
    if birth_date is None:
        return
    if birth_date < BIRTH_DATE_MIN:
        raise InvalidInput(field, f"is before {BIRTH_DATE_MIN.isoformat()}: not a living worker's birth date")
    if on is not None and birth_date > on:
        raise InvalidInput(field, f"is after the enrolment day {on.isoformat()}: a birth date cannot be in "
                                  "the future")
    if nik is not None and len(nik) == NIK_LENGTH and nik.isdigit():
        day, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
        day = day - 40 if day > 40 else day
        if (birth_date.day, birth_date.month, birth_date.year % 100) != (day, month, year2):
            raise InvalidInput(field, "contradicts the NIK, whose digits 7-12 are the birth date (DDMMYY, "
                                      "women day + 40)")


def birth_date_from_parts(day: int, month: int, year2: int) -> date | None:
    for century in (1900, 2000):
        try:
            return date(century + year2, month, day)
        except ValueError:
            continue
    return None


def nik_digest(pepper: bytes, nik: str) -> bytes:
    """HMAC-SHA256 of the NIK under the pepper."""
    return hmac.new(pepper, nik.encode("ascii"), hashlib.sha256).digest()


def member_id_for(pepper: bytes, nik: str) -> uuid.UUID:
    """The member's aggregate id: uuid5 over the keyed hash, so the same NIK is always the same id."""
    return uuid.uuid5(NS_MEMBER, nik_digest(pepper, nik).hex())


class PersonalData(BaseModel):
    """The personal fields of a member (data pribadi). Only ever stored sealed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nik: str
    name: str
    birth_date: date | None = None
    address: str | None = None
    phone: str | None = None


class SealedPersonalData(BaseModel):
    """Ciphertext of :class:`PersonalData` under the member's data key (AES-GCM, member id as AAD)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    nonce_b64: str
    ciphertext_b64: str


class PersonalDataCipher(Protocol):
    """Port: seals and opens personal data under a per-member key; forgetting destroys the key."""

    def seal(self, member_id: uuid.UUID, data: bytes) -> SealedPersonalData: ...

    def open(self, member_id: uuid.UUID, sealed: SealedPersonalData) -> bytes | None:
        """The plaintext, or ``None`` when the member's key was destroyed."""
        ...

    def forget(self, member_id: uuid.UUID) -> bool:
        """Destroy the member's key; True if a key existed."""
        ...

    def digest(self, data: bytes) -> bytes:
        """Keyed hash (HMAC under the pepper) for pseudonymous ids and payload fingerprints."""
        ...
