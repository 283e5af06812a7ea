"""Who a principal is and what it reaches, as plain values: its name and id, its :class:`Scope`, its token's expiry
(docs/rules.md#principals). Pure and light (no pydantic): the read-only report path authenticates and authorises
with it without loading the write model; :mod:`ledger.principal` re-exports every name here."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

from ledger.errors import InvalidInput

NS_PRINCIPAL = uuid.UUID("3f1d2c4b-6a5e-4f70-9b8c-7d6e5f4a3b2c")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
LOCAL_PREFIX = "local:"
"""The operating-system user on the server acts as ``local:<user>`` (never a stored principal)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which agreements a principal reaches: ``all``, ``payer:<payer id>`` or ``region:<code>``.

    A region scope covers the region and every region inside it (``region:61`` covers 61.72 Singkawang).
    """

    kind: str
    value: str = ""

    @classmethod
    def parse(cls, text: str, field: str = "scope") -> Scope:
        text = text.strip()
        if text == "all":
            return cls("all")
        kind, _, value = text.partition(":")
        if kind == "payer" and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-_./:]{0,63}", value):
            return cls("payer", value)
        if kind == "region" and re.fullmatch(r"\d{2}(\.\d{2})?", value):
            return cls("region", value)
        raise InvalidInput(field, f"must be all, payer:<payer id> or region:<NN or NN.NN>, got {text!r}")

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.value}"

    @property
    def is_all(self) -> bool:
        return self.kind == "all"

    def covers(self, payer_ids: frozenset[str], region_codes: frozenset[str]) -> bool:
        """Whether something concerning these payers and regions is inside the scope. Nothing known about it
        (no payer, no region: an unknown member, say) is inside only the ``all`` scope."""
        if self.kind == "all":
            return True
        if self.kind == "payer":
            return self.value in payer_ids
        return bool(region_codes) and all(region_within(r, self.value) for r in region_codes)


def region_within(code: str, parent: str) -> bool:
    """Whether region ``code`` is ``parent`` or inside it (``61.72`` is inside ``61``)."""
    return code == parent or code.startswith(parent + ".")


def principal_id_for(name: str) -> uuid.UUID:
    return uuid.uuid5(NS_PRINCIPAL, name)


def token_expired(expires_on: date | None, today: date) -> bool:
    """Whether a token whose last day is ``expires_on`` (None: no expiry) no longer authenticates ``today``."""
    return expires_on is not None and today > expires_on
