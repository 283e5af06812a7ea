"""The chart of accounts and the one balanced journal entry of every money event (docs/rules.md#four-totals).

The journal is derived from the event log, never a second truth: :func:`entry_for` maps an event's JSON to
its legs, and the ``journal`` projection only writes them down.

Accounts (``kind:qualifier``) and their sign convention (normal balance):

========================  =========  ======  ===========================================================
account                   type       normal  meaning
========================  =========  ======  ===========================================================
receivable:<agreement>    asset      debit   piutang iuran: billed to the payer, not yet received
bank:collection           asset      debit   BPJS collection account (rekening penampungan iuran)
bank:benefits             asset      debit   BPJS benefit disbursement account (credit balance = paid out)
transfers-in:JHT          asset      debit   JHT balances carried in from earlier records
billed:<agreement>        liability  credit  clearing: billed, not yet credited to members
fund:JKK|JKM|JHT          liability  credit  programme funds (national pools: a local debit is the pool's transfer)
fund:UNSPLIT              liability  credit  refunds recorded before the programme split was kept (v1 events)
claims-payable            liability  credit  utang klaim: approved, not yet paid
refunds-payable:<payer>   liability  credit  contributions owed back to a payer after a death
suspense                  liability  credit  money received that no invoice explains yet
benefit-expense:JKK|JKM   expense    debit   benefits granted from the pooled programmes
========================  =========  ======  ===========================================================

Invariant: every entry has at least two legs and its debits equal its credits (asserted by :class:`Entry`).

**Dates** (:func:`dated_parts`): an entry carries the business day of the fact it records. A bank transfer is
received on its booking day: matching it to invoices, raising it as an exception (suspense) or matching it by
hand records what that transfer was, so those entries take the transfer's booking day, and the day the matching
or the resolution was decided is kept beside it. Writing a transfer off (returning it) is a movement of its
own, on the day it was decided; every other event's entry takes the event's ``effective_on``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ledger.values import format_rp

ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    "receivable": ("asset", "debit"),
    "bank": ("asset", "debit"),
    "transfers-in": ("asset", "debit"),
    "billed": ("liability", "credit"),
    "fund": ("liability", "credit"),
    "claims-payable": ("liability", "credit"),
    "refunds-payable": ("liability", "credit"),
    "suspense": ("liability", "credit"),
    "benefit-expense": ("expense", "debit"),
}

PROGRAMME_OF_COMPONENT = {"jht_balance": "JHT"}
"""Benefit components paid from a fund other than the claim's own programme (a JHT balance is the member's
own savings: it leaves the JHT fund, it is not an expense)."""

CLAIM_PROGRAMME = {"JKM_DEATH": "JKM"}
"""Claim type → programme (every other claim type is JKK)."""


def account_type(account: str) -> tuple[str, str]:
    """(type, normal side) of an account; raises KeyError for an account outside the chart."""
    return ACCOUNT_TYPES[account.split(":", 1)[0]]


class Leg(NamedTuple):
    """One line of an entry: an account of the chart, debited or credited (whole rupiah, never negative)."""

    account: str
    debit_rp: int
    credit_rp: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One balanced journal entry (jurnal): at least two legs, debits = credits, amounts non-negative."""

    memo: str
    legs: tuple[Leg, ...]

    def __post_init__(self) -> None:
        debit_rp = credit_rp = 0
        for account, debit, credit in self.legs:
            assert debit >= 0 and credit >= 0, f"{self.memo}: negative amount on {account}"
            assert account.split(":", 1)[0] in ACCOUNT_TYPES, f"{self.memo}: {account} is not in the chart"
            debit_rp += debit
            credit_rp += credit
        assert len(self.legs) >= 2, f"{self.memo}: an entry has at least two legs"
        assert debit_rp == credit_rp, f"{self.memo}: debits {format_rp(debit_rp)} != credits {format_rp(credit_rp)}"


def _entry(memo: str, debits: Mapping[str, int], credits: Mapping[str, int]) -> Entry | None:
    legs = [Leg(a, v, 0) for a, v in debits.items() if v] + [Leg(a, 0, v) for a, v in credits.items() if v]
    return Entry(memo, tuple(legs)) if legs else None


def _sum_by(pairs: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in pairs:
        out[key] = out.get(key, 0) + value
    return out


def _funds(per_programme_rp: Mapping[str, int]) -> dict[str, int]:
    return {f"fund:{p}": v for p, v in sorted(per_programme_rp.items())}


TRANSFER_CLASSIFICATIONS = ("StatementLinesMatched", "ReconciliationExceptionsRaised")
"""Events about many statement lines: one entry per booking day of their lines."""


def dated_parts(event_type: str, d: Mapping[str, Any], booked_on: Mapping[int, str] | None
                ) -> list[tuple[str, Mapping[str, Any]]]:
    """The parts of an event that are entries of their own, each with the business day of the fact it records
    (see the module's rule on dates); ``booked_on`` maps the statement lines the event is about to their
    booking days (None for events not about statement lines)."""
    if event_type in TRANSFER_CLASSIFICATIONS:
        assert booked_on is not None
        key = "matches" if event_type == "StatementLinesMatched" else "exceptions"
        by_day: dict[str, list[Any]] = {}
        for part in d[key]:
            by_day.setdefault(booked_on[part["line_no"]], []).append(part)
        return [(day, {**d, key: parts}) for day, parts in sorted(by_day.items())]
    if event_type == "ReconciliationExceptionResolved" and d["action"] != "WRITE_OFF":
        assert booked_on is not None
        return [(booked_on[d["line_no"]], d)]
    return [(str(d["effective_on"]), d)]


def entry_for(event_type: str, d: Mapping[str, Any], claim_type: Callable[[], str]) -> Entry | None:
    """The journal entry of one event (None for events that move no money). ``claim_type`` gives the type of
    the claim a claim event belongs to (asked only for claim events)."""
    if event_type == "InvoiceIssued":
        code = d["agreement_code"]
        return _entry(f"invoice {d['invoice_ref']}", {f"receivable:{code}": d["amount_rp"]},
                      {f"billed:{code}": d["amount_rp"]})
    if event_type == "ContributionPaid":
        code = d["agreement_code"]
        per_period = d["per_period_rp"]
        months = len(d["periods"])
        credits = {f"fund:{p}": v * months for p, v in sorted(per_period.items())}
        source = f"billed:{code}" if code else "bank:collection"
        return _entry(f"contribution {d['payment_reference']}", {source: d["amount_rp"]}, credits)
    if event_type == "ContributionRefundDue":
        split = d.get("per_programme_rp") or {"UNSPLIT": d["amount_rp"]}
        return _entry(f"refund due, claim {d['claim_ref']}", _funds(split),
                      {f"refunds-payable:{d['payer_id']}": d["amount_rp"]})
    if event_type == "ContributionRefundSettled":
        return _entry(f"refund paid {d['payment_reference']}", {f"refunds-payable:{d['payer_id']}": d["amount_rp"]},
                      {"bank:collection": d["amount_rp"]})
    if event_type == "JhtBalanceCarriedIn":
        return _entry(f"JHT carried in: {d['source']}", {"transfers-in:JHT": d["amount_rp"]},
                      {"fund:JHT": d["amount_rp"]})
    if event_type == "ClaimApproved":
        programme = CLAIM_PROGRAMME.get(claim_type(), "JKK")
        debits = _sum_by([
            (f"fund:{PROGRAMME_OF_COMPONENT[c]}" if c in PROGRAMME_OF_COMPONENT else f"benefit-expense:{programme}", v)
            for c, v in sorted(d["components"].items())
        ])
        return _entry("claim approved", debits, {"claims-payable": d["amount_rp"]})
    if event_type == "ClaimPaid":
        return _entry(f"claim paid {d['payment_reference']}", {"claims-payable": d["amount_rp"]},
                      {"bank:benefits": d["amount_rp"]})
    if event_type == "StatementLinesMatched":
        allocations = [a for m in d["matches"] for a in m["allocations"]]
        total = sum(a["amount_rp"] for a in allocations)
        return _entry(f"{len(d['matches'])} transfer(s) matched", {"bank:collection": total},
                      _sum_by([(f"receivable:{a['agreement_code']}", a["amount_rp"]) for a in allocations]))
    if event_type == "ReconciliationExceptionsRaised":
        total = sum(e["amount_rp"] for e in d["exceptions"])
        return _entry(f"{len(d['exceptions'])} transfer(s) to suspense", {"bank:collection": total},
                      {"suspense": total})
    if event_type == "ReconciliationExceptionResolved":
        if d["action"] == "MATCH":
            return _entry(f"line {d['line_no']} matched by hand", {"suspense": d["amount_rp"]},
                          _sum_by([(f"receivable:{a['agreement_code']}", a["amount_rp"]) for a in d["allocations"]]))
        if d["action"] == "WRITE_OFF":
            return _entry(f"line {d['line_no']} written off (returned)", {"suspense": d["amount_rp"]},
                          {"bank:collection": d["amount_rp"]})
    return None
