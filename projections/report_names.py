"""Every report :func:`projections.reports.build_report` makes, by name, with what it shows: ``jamsos report --help``
lists them from here without importing any report (nor SQLAlchemy)."""

from __future__ import annotations

REPORT_DESCRIPTIONS: dict[str, str] = {
    "members": "active members per agreement, region, village and role; enrolments, lapses by reason and "
               "reinstatements per month; active members at each month's end per agreement",
    "balances": "per agreement and period: members expected, expected, paid, outstanding and refunds due; per payer "
                "and fund source; per programme fund: contributions in, claims paid out, refunds due",
    "claims": "claims by type and status, agreement, region and month; amounts by benefit component; days from "
              "submission to payment; the register of claims (no member named)",
    "coverage": "UCJ per region: active participants (by person) divided by the recorded workforce",
    "audit": "the audit trail: its hash chain verified from the store, events per type",
    "access": "the access log: every read of personal data in clear — when, by whom, which member "
              "(pseudonymous id), for what purpose (UU 27/2022)",
    "trial-balance": "journal totals per account with its sign convention (entries effective by --on)",
    "reconciliation": "one agreement (--agreement, optionally --period): budget, expected, billed, paid and "
                      "received per month, open exceptions with their age, refunds due",
}
"""Every report :func:`projections.reports.build_report` makes, with what it shows (``jamsos report --help`` lists
them)."""
