"""Finance's questions, answered from the ``registers`` and ``journal`` read models (docs/rules.md#four-totals):
expected per agreement and period (``projections.expected_members``), the reconciliation report (budget,
expected, billed, paid, received), the trial balance and the checks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from eventstore.store import LedgerStore
from ledger.agreement import budget_in_force
from ledger.billing import budget_status
from ledger.errors import InvalidInput, NotFound
from ledger.journal import account_type
from ledger.reconciliation import OpenInvoice, StatementLine
from ledger.values import Period, format_count, format_rp
from projections.audit import position_recorded_by
from projections.expected_members import expected_by_period
from projections.journal import Journal, entry_count, entry_positions
from projections.registers import Registers
from projections.runner import Projection, ProjectionGroup, ProjectionRunner, memory_views_engine, views_engine

Section = dict[str, Any]


def section(columns: list[str], rows: list[list[Any]]) -> Section:
    return {"columns": columns, "rows": rows}


# --- the read models, now or as of a recorded time ---------------------------------------------------


class MoneyViews:
    """The registers and the journal, caught up to the head (or rebuilt in memory up to the position
    recorded by ``as_of``)."""

    def __init__(self, store: LedgerStore, as_of: datetime | None = None) -> None:
        engine = views_engine(store)
        if as_of is None:
            runners = [ProjectionRunner(store, engine, f) for f in (Registers, Journal)]
            ProjectionGroup(runners).catch_up()
            self.position = min(int(r.status()["position"]) for r in runners)
        else:
            self.position = position_recorded_by(store, engine, as_of)
            engine = memory_views_engine()
            runners = [ProjectionRunner(store, engine, f) for f in (Registers, Journal)]
            ProjectionGroup(runners).catch_up(until=self.position)
        self.engine = engine
        self.registers: Registers = runners[0].active  # type: ignore[assignment]
        self.journal: Journal = runners[1].active  # type: ignore[assignment]

    def rows(self, projection: Projection, table: str, *where: Any) -> list[dict[str, Any]]:
        t = projection.table(table)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t).where(*where))]

    def agreement(self, code: str) -> dict[str, Any]:
        t = self.registers.table("agreements")
        found = self.rows(self.registers, "agreements", t.c.code == code)
        if not found:
            raise NotFound("agreement_id", f"unknown agreement {code}")
        return found[0]


def statement_streams(views: MoneyViews, payer_id: str) -> set[str]:
    """The aggregate ids (as text) of the payer's imported statements."""
    t = views.journal.table("statements")
    with views.engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(select(t.c.aggregate_id).where(t.c.payer_id == payer_id))}


def window(agreement: dict[str, Any]) -> list[Period]:
    first, last = Period.parse(agreement["first_period"]), Period.parse(agreement["last_period"])
    return [first + i for i in range(first.months_until(last) + 1)]


# --- reconciliation inputs -------------------------------------------------------------------------


def invoice_outstanding(views: MoneyViews, payer_id: str | None = None, on: date | None = None
                        ) -> dict[str, dict[str, Any]]:
    """Invoices (of one payer, or all) with their allocations so far and what is still outstanding; with ``on``,
    as they stood that day (invoices issued, transfers booked by then)."""
    inv_t, alloc_t = views.journal.table("invoices"), views.journal.table("allocations")
    where = [inv_t.c.payer_id == payer_id] if payer_id else []
    if on is not None:
        where.append(inv_t.c.issued_on <= on.isoformat())
    invoices = {i["invoice_ref"]: {**i, "received_rp": 0} for i in views.rows(views.journal, "invoices", *where)}
    received = select(alloc_t.c.invoice_ref, func.sum(alloc_t.c.amount_rp)).group_by(alloc_t.c.invoice_ref)
    if on is not None:
        received = received.where(alloc_t.c.effective_on <= on.isoformat())
    with views.engine.connect() as conn:
        for ref, total in conn.execute(received):
            if ref in invoices:
                invoices[ref]["received_rp"] = int(total)
    for inv in invoices.values():
        inv["outstanding_rp"] = inv["amount_rp"] - inv["received_rp"]
    return invoices


def open_invoices(views: MoneyViews, payer_id: str) -> list[OpenInvoice]:
    return [OpenInvoice(invoice_id=ref, reference=ref, payer_id=payer_id,
                        issued_on=date.fromisoformat(i["issued_on"]), outstanding_rp=i["outstanding_rp"])
            for ref, i in sorted(invoice_outstanding(views, payer_id).items()) if i["outstanding_rp"] > 0]


def new_lines(views: MoneyViews, payer_id: str) -> list[StatementLine]:
    t = views.journal.table("statement_lines")
    return [StatementLine(statement_id=r["statement_id"], line_no=r["line_no"], reference=r["reference"],
                          booked_on=date.fromisoformat(r["booked_on"]), amount_rp=r["amount_rp"],
                          account=r["account"] or "", description=r["description"] or "",
                          value_on=date.fromisoformat(r["value_on"]))
            for r in views.rows(views.journal, "statement_lines", t.c.payer_id == payer_id, t.c.status == "NEW")]


def known_transfers(views: MoneyViews, payer_id: str) -> set[tuple[str, int, date]]:
    t = views.journal.table("statement_lines")
    with views.engine.connect() as conn:
        return {(r[0], int(r[1]), date.fromisoformat(r[2])) for r in conn.execute(
            select(t.c.reference, t.c.amount_rp, t.c.booked_on).where(t.c.payer_id == payer_id, t.c.status != "NEW"))}


def payers_with_new_lines(views: MoneyViews) -> list[str]:
    t = views.journal.table("statement_lines")
    with views.engine.connect() as conn:
        return sorted({str(r[0]) for r in conn.execute(select(t.c.payer_id).where(t.c.status == "NEW").distinct())})


def statement_by_prefix(views: MoneyViews, prefix: str) -> str:
    t = views.journal.table("statements")
    with views.engine.connect() as conn:
        found = [str(r[0]) for r in conn.execute(select(t.c.statement_id).where(t.c.statement_id.startswith(prefix)))]
    if not found:
        raise NotFound("statement_id", f"no imported statement starts with {prefix}")
    if len(found) > 1:
        raise NotFound("statement_id", f"{prefix} is ambiguous: {len(found)} statements start with it")
    return found[0]


# --- reports -------------------------------------------------------------------------------------


def _age_days(since: str | None, on: date) -> int | None:
    return None if since is None else (on - date.fromisoformat(since)).days


def budget_on(views: MoneyViews, code: str, on: date) -> int:
    """The budget ceiling in force on ``on``: the one signed, or the last amendment effective by then."""
    t = views.registers.table("budgets")
    budgets = [(b["effective_on"], b["position"], b["budget_rp"])
               for b in views.rows(views.registers, "budgets", t.c.agreement_code == code)]
    found = budget_in_force(budgets, on.isoformat())
    return found if found is not None else int(views.agreement(code)["budget_rp"])


def exceptions_on(views: MoneyViews, payer_id: str | None, on: date) -> list[dict[str, Any]]:
    """The reconciliation exceptions of one payer (or of all) as they stood on ``on``: transfers booked by then
    that the ledger could not explain. Raising, matching by hand and parking classify the transfer (they hold
    from its booking day, see ``ledger.journal``); a write-off returns the money on the day it was decided."""
    t = views.journal.table("exceptions")
    day = on.isoformat()
    out = []
    where = [t.c.booked_on <= day] + ([t.c.payer_id == payer_id] if payer_id is not None else [])
    for e in views.rows(views.journal, "exceptions", *where):
        if e["status"] == "WRITTEN_OFF" and e["resolved_on"] > day:  # still in suspense, parked or not
            e = {**e, "status": "PARKED" if e["parked"] else "OPEN", "resolved_on": None}
        out.append(e)
    return out


def reconciliation_report(views: MoneyViews, code: str, on: date, period: str | None = None
                          ) -> tuple[dict[str, Section], dict[str, Any]]:
    """Per month of the window, as the business stood on ``on``: budget share, expected, billed, paid (credited
    to members), received (transfers matched to the invoices), differences; the payer's open exceptions;
    refunds due. With ``period``, the months and the totals are of that month only (the budget line stays the
    window's: a ceiling is for the whole window)."""
    agreement = views.agreement(code)
    day = on.isoformat()
    if agreement["signed_on"] > day:
        raise NotFound("agreement_id", f"agreement {code} was signed on {agreement['signed_on']}, after {day}")
    periods = window(agreement)
    if period is not None and Period.parse(period, "period") not in periods:
        raise InvalidInput("period", f"{period} is outside {code}'s window {agreement['first_period']}.."
                                     f"{agreement['last_period']}")
    expected_members = expected_by_period(views, code, periods, on)
    invoices = invoice_outstanding(views, agreement["payer_id"], on)
    ip_t = views.journal.table("invoice_periods")
    billed: dict[str, tuple[str, int]] = {
        r["period"]: (r["invoice_ref"], r["amount_rp"])
        for r in views.rows(views.journal, "invoice_periods", ip_t.c.agreement_code == code)
        if r["invoice_ref"] in invoices}
    received = _spread_received(views, code, invoices)
    paid_t = views.registers.paid_rows()
    with views.engine.connect() as conn:
        paid = {str(p): int(v) for p, v in conn.execute(
            select(paid_t.c.period, func.sum(paid_t.c.amount_rp))
            .where(paid_t.c.agreement_code == code, paid_t.c.paid_on <= day).group_by(paid_t.c.period))}
    rows: list[list[Any]] = []
    totals: defaultdict[str, int] = defaultdict(int)
    window_expected_rp = 0
    for p in periods:
        key = str(p)
        members = expected_members[key].members
        expected_rp = expected_members[key].amount_rp
        window_expected_rp += expected_rp
        if period is not None and period != key:
            continue
        invoice_ref, billed_rp = billed.get(key, (None, 0))
        received_rp = received.get(key, 0)
        row = {"expected_members": members, "expected_rp": expected_rp, "billed_rp": billed_rp,
               "paid_rp": paid.get(key, 0), "received_rp": received_rp}
        for k, v in row.items():
            totals[k] += v
        rows.append([key, members, expected_rp, invoice_ref, billed_rp, paid.get(key, 0), received_rp,
                     billed_rp - expected_rp, billed_rp - received_rp])
    budget_rp = budget_on(views, code, on)
    status = budget_status(budget_rp, window_expected_rp, on)
    exceptions = [[e["statement_id"][:12], e["line_no"], e["kind"], e["amount_rp"], e["status"], e["booked_on"],
                   e["raised_on"], _age_days(e["booked_on"], on), e["reason"]]
                  for e in exceptions_on(views, agreement["payer_id"], on) if e["status"] in ("OPEN", "PARKED")]
    ref_t = views.journal.table("refunds")
    refunds = []
    for r in views.rows(views.journal, "refunds", ref_t.c.agreement_code == code, ref_t.c.due_on <= day):
        settled = r["settled_on"] is not None and r["settled_on"] <= day
        refunds.append([r["claim_ref"], r["payer_id"], r["periods"], r["amount_rp"], r["due_on"],
                        r["settled_on"] if settled else None, r["payment_reference"] if settled else None,
                        None if settled else _age_days(r["due_on"], on)])
    sections = {
        "budget": section(["agreement", "payer", "budget_rp", "expected_window_rp", "share_pct", "status"], [[
            code, agreement["payer_id"], budget_rp, window_expected_rp,
            round(100 * window_expected_rp / budget_rp, 1) if budget_rp else None, str(status)]]),
        "months": section(["period", "expected_members", "expected_rp", "invoice", "billed_rp", "paid_rp",
                           "received_rp", "billed_minus_expected_rp", "billed_minus_received_rp"], rows),
        "open_exceptions": section(["statement", "line", "kind", "amount_rp", "status", "booked_on", "raised_on",
                                    "age_days", "reason"], sorted(exceptions)),
        "refunds": section(["claim", "payer", "periods", "amount_rp", "due_on", "settled_on", "reference",
                            "age_days"], sorted(refunds)),
    }
    summary = {"budget_rp": budget_rp, "expected_rp": totals["expected_rp"],
               "billed_rp": totals["billed_rp"], "paid_rp": totals["paid_rp"], "received_rp": totals["received_rp"],
               "budget_status": str(status), "open_exceptions": len(exceptions),
               "refunds_due_rp": sum(r[3] for r in refunds if r[5] is None),
               "refunds_settled_rp": sum(r[3] for r in refunds if r[5] is not None)}
    return sections, summary


def _spread_received(views: MoneyViews, code: str, invoices: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Money received on each invoice of ``code``, spread over its periods in order."""
    ip_t = views.journal.table("invoice_periods")
    by_invoice: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(views.rows(views.journal, "invoice_periods", ip_t.c.agreement_code == code),
                    key=lambda r: (r["invoice_ref"], r["period"])):
        by_invoice[r["invoice_ref"]].append(r)
    out: dict[str, int] = {}
    for ref, lines in by_invoice.items():
        left = invoices.get(ref, {}).get("received_rp", 0)
        for line in lines:
            share = min(left, line["amount_rp"])
            out[line["period"]] = out.get(line["period"], 0) + share
            left -= share
    return out


def trial_balance(views: MoneyViews, on: date | None) -> tuple[dict[str, Section], dict[str, Any]]:
    """Debits and credits per account (entries effective by ``on``), from the entries counted per shape and day
    (``journal_day_totals``; ``check`` sums the entries themselves and compares)."""
    totals, legs = views.journal.table("journal_day_totals"), views.journal.table("journal_shapes")
    n = totals.c.entries
    query = (select(legs.c.account, func.sum(legs.c.debit_rp * n), func.sum(legs.c.credit_rp * n))
             .select_from(totals.join(legs, legs.c.shape == totals.c.shape)).group_by(legs.c.account))
    if on is not None:
        query = query.where(totals.c.effective_on <= on.isoformat())
    with views.engine.connect() as conn:
        sums = sorted((str(a), int(d), int(c)) for a, d, c in conn.execute(query))
    rows: list[list[Any]] = []
    for account, debit, credit in sums:
        kind, normal = account_type(account)
        rows.append([account, kind, normal, debit, credit, debit - credit if normal == "debit" else credit - debit])
    debits, credits = sum(r[3] for r in rows), sum(r[4] for r in rows)
    funds = []
    for programme in ("JKK", "JKM", "JHT"):
        fund = next((r for r in rows if r[0] == f"fund:{programme}"), None)
        expense = next((r for r in rows if r[0] == f"benefit-expense:{programme}"), None)
        contributions = fund[4] if fund else 0
        out = (fund[3] if fund else 0) + (expense[5] if expense else 0)
        funds.append([programme, contributions, out, contributions - out])
    sections = {
        "accounts": section(["account", "type", "normal", "debit_rp", "credit_rp", "balance_rp"], rows),
        "funds": section(["programme", "in_rp", "out_rp", "local_net_rp"], funds),
    }
    return sections, {"debit_rp": debits, "credit_rp": credits, "difference_rp": debits - credits,
                      "accounts": len(rows)}


def reference_breaches(views: MoneyViews, on: date, open_items: list[list[Any]]) -> list[str]:
    """Every payment reference (over the whole log): its reserved amount equals what was credited under it plus
    what its REFERENCE_SHORTFALL exceptions explain (docs/rules.md#reference-shortfall). A reference whose bulk
    command is still in progress is an open item, not a breach; money credited under a reference never reserved
    is a breach."""
    breaches = []
    for r in views.rows(views.journal, "payment_references"):
        reserved, credited, explained = r["reserved_rp"], r["credited_rp"], r["explained_rp"]
        if r["in_progress"]:
            open_items.append(["bulk-in-progress", f"{r['reference']} (command {r['command_id']})",
                               (reserved or 0) - credited, r["reserved_on"], _age_days(r["reserved_on"], on)])
        elif reserved is None:
            breaches.append(f"payment reference {r['reference']}: {format_rp(credited)} credited, never reserved")
        elif reserved != credited + explained:
            breaches.append(f"payment reference {r['reference']}: reserved {format_rp(reserved)}, credited "
                            f"{format_rp(credited)}, explained by exceptions {format_rp(explained)}: "
                            f"{format_rp(reserved - credited - explained)} unexplained")
    return breaches


def checks(views: MoneyViews, on: date, max_age_days: int | None) -> dict[str, Any]:
    """The journal's invariants (over every entry), and every payable, suspense item and clearing balance open on
    ``on``, with its age then."""
    entries_t, legs_t = views.journal.table("journal_entries"), views.journal.table("journal_shapes")
    breaches: list[str] = []
    with views.engine.connect() as conn:
        n = entry_count(entries_t)
        debit, credit = conn.execute(
            select(func.coalesce(func.sum(legs_t.c.debit_rp * n), 0),
                   func.coalesce(func.sum(legs_t.c.credit_rp * n), 0))
            .select_from(entries_t.join(legs_t, legs_t.c.shape == entries_t.c.shape))).one()
        # an entry's legs are its shape's: an unbalanced shape, or none, names every entry that has it
        off_rp = func.sum(legs_t.c.debit_rp) - func.sum(legs_t.c.credit_rp)
        bad = {shape: (n, off) for shape, n, off in conn.execute(
            select(legs_t.c.shape, func.count(), off_rp).group_by(legs_t.c.shape)
            .having((func.count() < 2) | (off_rp != 0)))}
        unbalanced = sorted((position, *bad.get(shape, (0, 0))) for first, last, step, shape in conn.execute(
            select(entries_t.c.position, entries_t.c.last_position, entries_t.c.step, entries_t.c.shape)
            .where(entries_t.c.shape.in_(list(bad)) | entries_t.c.shape.not_in(select(legs_t.c.shape)))
            .order_by(entries_t.c.position)) for position in entry_positions(first, last, step))
        entries = int(conn.execute(select(func.coalesce(func.sum(n), 0))).scalar_one())
        totals_t = views.journal.table("journal_day_totals")
        kept = {(shape, day): int(k) for shape, day, k in conn.execute(
            select(totals_t.c.shape, totals_t.c.effective_on, totals_t.c.entries).where(totals_t.c.entries != 0))}
        counted = {(shape, day): int(k) for shape, day, k in conn.execute(
            select(entries_t.c.shape, entries_t.c.effective_on, func.sum(n))
            .group_by(entries_t.c.shape, entries_t.c.effective_on))}
    if debit != credit:
        breaches.append(f"trial balance: debits {format_rp(debit)} != credits {format_rp(credit)}")
    breaches += [f"entry at position {p}: {n} leg(s), off by {format_rp(d)}" for p, n, d in unbalanced]
    breaches += [f"journal day totals: {format_count(kept.get(k, 0))} entries of shape {k[0]} on {k[1]} kept, "
                 f"{format_count(counted.get(k, 0))} in the journal" for k in sorted(set(kept) | set(counted))
                 if kept.get(k, 0) != counted.get(k, 0)]
    claims_t, refunds_t = (views.journal.table(n) for n in ("claims_payable", "refunds"))
    day = on.isoformat()
    open_items: list[list[Any]] = []
    for c in views.rows(views.journal, "claims_payable", claims_t.c.approved_on <= day):
        if c["paid_on"] is None or c["paid_on"] > day:
            open_items.append(["claims-payable", c["claim_ref"], c["amount_rp"], c["approved_on"],
                               _age_days(c["approved_on"], on)])
    for r in views.rows(views.journal, "refunds", refunds_t.c.due_on <= day):
        if r["settled_on"] is None or r["settled_on"] > day:
            open_items.append([f"refunds-payable:{r['payer_id']}", r["claim_ref"], r["amount_rp"], r["due_on"],
                               _age_days(r["due_on"], on)])
    for e in exceptions_on(views, None, on):
        if e["status"] in ("OPEN", "PARKED"):
            open_items.append(["suspense", f"{e['statement_id'][:12]}:{e['line_no']} {e['kind']}",
                               e["amount_rp"], e["booked_on"], _age_days(e["booked_on"], on)])
    breaches += reference_breaches(views, on, open_items)
    sections, _ = trial_balance(views, on)
    for account, _, _, _, _, balance in sections["accounts"]["rows"]:
        if account.startswith("billed:") and balance:
            open_items.append([account, "billed, not credited to members" if balance > 0 else
                               "credited to members, not billed", abs(balance), None, None])
    if max_age_days is not None:
        breaches += [f"{i[0]} {i[1]}: open {i[4]} days (> {max_age_days})" for i in open_items
                     if i[4] is not None and i[4] > max_age_days]
    return {
        "on": on.isoformat(), "entries": entries, "debit_rp": int(debit), "credit_rp": int(credit),
        "breaches": breaches, "ok": not breaches,
        "open_items": section(["account", "item", "amount_rp", "since", "age_days"], sorted(open_items, key=str)),
    }
