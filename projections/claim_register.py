"""The register of claims (the ``register`` section of the claims report): one row per claim submitted by the
report's day, as it stood on that day.

Invariants:
- no personal data: neither the member's name nor NIK, nor even the member's pseudonymous id (a claim is named by
  its own id);
- a row's status, dates and amount are the claim's on the report's day (:func:`projections.facts.claim_on`): a
  decision or payment after that day is not shown, the amount only once approved;
- ``days_to_payment`` is the days from submission to payment of a paid claim (None otherwise); the rows sum to the
  report's totals (``claims``, ``paid_rp`` over the ``PAID`` rows).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.facts import self_or_code

COLUMNS = ["claim", "agreement", "claim_type", "status", "event_date", "submitted_on", "decided_on", "paid_on",
           "days_to_payment", "amount_rp", "reason_code"]


def claim_register(claims: list[dict[str, Any]]) -> dict[str, Any]:
    """The section of the module's docstring, by claim id, from claims already as of the report's day."""
    rows = []
    for c in sorted(claims, key=lambda c: c["claim_id"]):
        days = ((date.fromisoformat(c["paid_on"]) - date.fromisoformat(c["submitted_on"])).days
                if c["status"] == "PAID" and c["paid_on"] else None)
        rows.append([c["claim_id"], self_or_code(c["agreement_code"]), c["claim_type"], c["status"], c["event_date"],
                     c["submitted_on"], c["decided_on"], c["paid_on"], days, c["amount_rp"], c["reason_code"]])
    return {"columns": COLUMNS, "rows": rows}
