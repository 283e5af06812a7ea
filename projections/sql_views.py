"""The SQL views an auditor queries: stable names over the serving generation of each projection's tables.

One declaration per view — its name, what it holds, the projection tables it reads (``{projection.table}``
placeholders in ``source``) and each column with its SQL expression, its PostgreSQL type and its comment.
Adding a column is one ``Column(...)`` line; ``docs/sql.md`` is generated from these declarations
(``python -m projections.sql_views``, ``make sqldocs``) and a test fails when it is stale.

Invariants:
- The same view names and column names on SQLite and PostgreSQL.
- On PostgreSQL every column has its declared type (dates ``date``, instants ``timestamptz``, flags
  ``boolean``, rupiah ``bigint``) and every view and column a ``COMMENT``. On SQLite types are loose: dates
  stay ISO text (``YYYY-MM-DD``, which sorts and compares correctly), flags are 0/1.
- A view reads only the base tables of the generations that serve (``projections.sql_refresh`` creates
  and switches them in the transaction that switches a generation); never another view.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from projections.paid_runs import PAID_ROWS_SQL

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DIALECTS = (SQLITE, POSTGRESQL)
Expr = str | Mapping[str, str]
"""An SQL expression over the view's table aliases: one for both dialects, or one per dialect."""

PG_TYPES = ("text", "integer", "bigint", "date", "timestamptz", "boolean")
_PG_CAST = {
    "text": "CAST({} AS text)", "integer": "CAST({} AS integer)", "bigint": "CAST({} AS bigint)",
    "date": "CAST({} AS date)", "timestamptz": "CAST({} AS timestamptz)", "boolean": "({} <> 0)",
}
"""How a stored value becomes its declared type on PostgreSQL (flags are stored as 0/1 integers)."""
_SQLITE_CAST = {"boolean": "({} <> 0)"}
"""SQLite keeps the stored value (types are loose there); flags become 0/1 whatever was stored."""
_PLACEHOLDER = re.compile(r"\{(\w+)\.(\w+)\}")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a view. Invariant: ``type`` is one of ``PG_TYPES``; the expression names only the
    aliases of its view's ``source``."""

    name: str
    sql: Expr
    type: str
    comment: str

    def expression(self, dialect: str) -> str:
        raw = self.sql if isinstance(self.sql, str) else self.sql[dialect]
        cast = _PG_CAST[self.type] if dialect == POSTGRESQL else _SQLITE_CAST.get(self.type, "{}")
        return cast.format(raw)


@dataclass(frozen=True, slots=True)
class View:
    """One stable view. Invariant: ``source`` names tables only as ``{projection.table}``, so the view can
    be pointed at any generation of them."""

    name: str
    comment: str
    source: str
    columns: tuple[Column, ...]

    @property
    def tables(self) -> tuple[tuple[str, str], ...]:
        """(projection, table) of every base table the view reads, in order of first use."""
        return tuple(dict.fromkeys(_PLACEHOLDER.findall(self.source)))

    @property
    def projections(self) -> frozenset[str]:
        return frozenset(p for p, _ in self.tables)

    def select(self, dialect: str, generations: Mapping[str, int]) -> str:
        """The view's query on ``dialect``, reading the tables of ``generations`` (projection → generation)."""
        columns = ",\n  ".join(f"{c.expression(dialect)} AS {c.name}" for c in self.columns)
        source = _PLACEHOLDER.sub(lambda m: f"{m.group(2)}_g{generations[m.group(1)]}", self.source)
        return f"SELECT\n  {columns}\nFROM {source}"

    def statements(self, dialect: str, generations: Mapping[str, int], *, replace: bool = False) -> list[str]:
        """DDL creating the view (``replace``: PostgreSQL's ``CREATE OR REPLACE``, allowed only when the
        columns and their types are unchanged) with, on PostgreSQL, its comments."""
        verb = "CREATE OR REPLACE VIEW" if replace and dialect == POSTGRESQL else "CREATE VIEW"
        out = [f"{verb} {self.name} AS\n{self.select(dialect, generations)}"]
        if dialect == POSTGRESQL:
            out.append(f"COMMENT ON VIEW {self.name} IS {_literal(self.comment)}")
            out += [f"COMMENT ON COLUMN {self.name}.{c.name} IS {_literal(c.comment)}" for c in self.columns]
        return out

    def digest(self, dialect: str, generations: Mapping[str, int]) -> str:
        """Changes whenever the DDL would (another generation, expression, type or comment)."""
        return _sha256("\n;\n".join(self.statements(dialect, generations)))

    def signature(self) -> str:
        """Changes when a column is added, removed, renamed, reordered or retyped (PostgreSQL then needs
        ``DROP VIEW`` + ``CREATE VIEW``; otherwise ``CREATE OR REPLACE VIEW`` keeps views built on it)."""
        return _sha256(",".join(f"{c.name} {c.type}" for c in self.columns))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- dates from periods ----------------------------------------------------------------------------


def month_start(period: str) -> dict[str, str]:
    """The first day of the calendar month a ``YYYY-MM`` period is named by."""
    return {SQLITE: f"date({period} || '-01')", POSTGRESQL: f"CAST({period} || '-01' AS date)"}


def month_end(period: str) -> dict[str, str]:
    """The last day of the calendar month a ``YYYY-MM`` period is named by."""
    return {SQLITE: f"date({period} || '-01', '+1 month', '-1 day')",
            POSTGRESQL: f"CAST(CAST({period} || '-01' AS date) + INTERVAL '1 month' - INTERVAL '1 day' AS date)"}


def period_start(period: str, anchor_day: str) -> dict[str, str]:
    """The day a period starts for a chain with this anchor day: the anchor day, clamped to the month's
    last day (``ledger.values.Period.start``)."""
    days = {SQLITE: f"CAST(strftime('%d', {period} || '-01', '+1 month', '-1 day') AS INTEGER)",
            POSTGRESQL: f"CAST(EXTRACT(DAY FROM CAST({period} || '-01' AS date) + INTERVAL '1 month' "
                        f"- INTERVAL '1 day') AS integer)"}
    return {SQLITE: f"date({period} || '-01', '+' || (min({anchor_day}, {days[SQLITE]}) - 1) || ' days')",
            POSTGRESQL: f"CAST({period} || '-01' AS date) + (LEAST({anchor_day}, {days[POSTGRESQL]}) - 1)"}


# --- the views ---------------------------------------------------------------------------------------

C = Column
MEMBER_ID = "Pseudonymous member id (uuid5 of an HMAC of the NIK under the pepper; no personal data). " \
            "`jamsos member show NIK --json` prints it as member_id."
AGREEMENT_CODE = "Funding agreement id (e.g. SKW-RENTAN-2025); NULL for a self-payer."
PAYER_TYPE = "Kind of payer: APBD_KOTA, APBD_KAB, APBD_PROV, APBN, APBDES, BAZNAS, CSR, DONOR or SELF."
FUND_SOURCE = "Fund the money comes from: APBD, DBH_SAWIT, APBDES, APBN, ZIS, CSR, DONATION or SELF."
PERIOD = "Coverage month, YYYY-MM (named by the month in which it starts)."
PERIOD_MONTH = "First day of the calendar month the period is named by (YYYY-MM-01). Agreement cohorts' periods " \
               "start that day; a self-payer's start on the chain's anchor day (membership_spells.anchor_day)."
POSITION = "Position of the event in the log (global, increasing, with gaps); joins audit_trail.position."
STATEMENT_ID = "Bank statement id: the SHA-256 of the imported file."
LINE_NO = "Line number within its bank statement."

JOURNAL_ENTRIES_EXPANDED = (
    "WITH RECURSIVE entry (position, seq, shape, effective_on, decided_on, recorded_at, last_position, step) AS ("
    "SELECT position, seq, shape, effective_on, decided_on, recorded_at, last_position, step "
    "FROM {journal.journal_entries} UNION ALL "
    "SELECT position + step, seq, shape, effective_on, decided_on, recorded_at, last_position, step FROM entry "
    "WHERE position < last_position) SELECT * FROM entry")
"""Every entry of the journal, one row each: a row of ``journal_entries`` stands for the equal entries of its
positions ``position, position + step, .. last_position`` (a cohort payment's, folded by the projection)."""

VIEWS: tuple[View, ...] = (
    View("agreements", "Funding agreements (perjanjian kerja sama): who pays for which cohort, from when to when, "
         "at what rate and within what budget. One row per agreement.", "{registers.agreements} AS a", (
        C("agreement_code", "a.code", "text", "Agreement id, as in `jamsos agreement show ID`."),
        C("name", "a.name", "text", "Agreement name."),
        C("payer_id", "a.payer_id", "text", "Payer id (e.g. PEMKOT-SKW)."),
        C("payer_name", "a.payer_name", "text", "Payer name."),
        C("payer_type", "a.payer_type", "text", PAYER_TYPE),
        C("fund_source", "a.fund_source", "text", FUND_SOURCE),
        C("region_code", "a.region_code", "text", "Kemendagri code of the payer's region (e.g. 61.72)."),
        C("first_period", "a.first_period", "text", "First month of the funding window, YYYY-MM."),
        C("last_period", "a.last_period", "text", "Last month of the funding window, YYYY-MM."),
        C("window_from", month_start("a.first_period"), "date",
          "First day of the funding window (agreement cohorts run on calendar months)."),
        C("window_until", month_end("a.last_period"), "date", "Last day of the funding window."),
        C("rate_rp", "a.rate_rp", "bigint", "Contribution per member per month at signing, whole rupiah."),
        C("budget_rp", "a.budget_rp", "bigint", "Budget ceiling of the whole window, whole rupiah (as last amended)."),
        C("billing_cadence", "a.cadence", "text", "How it is invoiced: MONTHLY, SEMESTER or ANNUAL."),
        C("signed_on", "a.signed_on", "date", "Business date of the signature (AgreementSigned)."),
        C("closed", "a.closed", "boolean", "True once the agreement was closed (AgreementClosed)."),
        C("programmes", "a.programmes", "text", "Programmes funded, comma-separated: JKK, JKM and possibly JHT."),
        C("declared_income_rp", "a.declared_income_rp", "bigint",
          "Monthly income declared for the cohort (the JKK tariff base), whole rupiah."),
        C("legal_basis", "a.legal_basis", "text", "The regulation it rests on (e.g. Perwali Singkawang 2025)."),
    )),
    View("members", "Every member ever enrolled, by pseudonymous id: where and as what they first enrolled, their "
         "death, whether their personal data was erased. No personal data.", "{registers.members} AS m", (
        C("member_id", "m.member_id", "text", MEMBER_ID),
        C("region_code", "m.region_code", "text", "Kemendagri region code at first enrolment (e.g. 61.72.01)."),
        C("village_code", "m.village_code", "text", "Kemendagri village (desa/kelurahan) code at first enrolment."),
        C("role", "m.role", "text", "Occupation at first enrolment (e.g. PETANI, NELAYAN)."),
        C("died_on", "m.died_on", "date", "Date of death (MemberDied), NULL while alive."),
        C("erased", "m.erased", "boolean", "True once the member's personal data was erased (UU 27/2022)."),
    )),
    View("membership_spells", "Membership chains: one row per enrolment of a member, from enrolment to lapse. A "
         "member is active on day D when enrolled_on <= D, lapsed_on is NULL or after D, and members.died_on is "
         "NULL or not before D.", "{registers.spells} AS s", (
        C("member_id", "s.member_id", "text", MEMBER_ID),
        C("spell_no", "s.spell_no", "integer", "1 for the first enrolment, 2 after a lapse and re-enrolment, ..."),
        C("enrolled_on", "s.enrolled_on", "date", "Business date of the enrolment (MemberEnrolled)."),
        C("first_period", "s.first_period", "text", "First coverage month of the chain, YYYY-MM."),
        C("first_period_start", period_start("s.first_period", "s.anchor_day"), "date",
          "The day the first coverage month starts (its anchor day)."),
        C("anchor_day", "s.anchor_day", "integer", "Day of the month each coverage period starts on (1 for "
          "agreement cohorts, the registration day for self-payers), clamped to the month's last day."),
        C("region_code", "s.region_code", "text", "Kemendagri region code at this enrolment."),
        C("village_code", "s.village_code", "text", "Kemendagri village code at this enrolment."),
        C("role", "s.role", "text", "Occupation at this enrolment."),
        C("declared_income_rp", "s.declared_income_rp", "bigint", "Monthly income declared, whole rupiah."),
        C("programmes", "s.programmes", "text", "Programmes, comma-separated (JKK,JKM[,JHT])."),
        C("lapsed_on", "s.lapsed_on", "date", "Business date the chain lapsed (CoverageLapsed), NULL while open."),
        C("lapse_reason", "s.lapse_reason", "text", "ARREARS (the 4th unpaid month began) or FUNDING_ENDED."),
    )),
    View("membership_payers", "Who pays for a membership chain from which period: one row per payer segment "
         "(the enrolment's payer, then each PayerChanged). The segment in force for a period P is the one with "
         "from_period <= P < until_period (the first segment also before its from_period).",
         "{registers.segments} AS g JOIN {registers.spells} AS s ON s.member_id = g.member_id "
         "AND s.spell_no = g.spell_no", (
        C("member_id", "g.member_id", "text", MEMBER_ID),
        C("spell_no", "g.spell_no", "integer", "The chain (membership_spells.spell_no)."),
        C("segment_no", "ROW_NUMBER() OVER (PARTITION BY g.member_id, g.spell_no ORDER BY g.from_period)",
          "integer", "1 for the enrolment's payer, then 2, 3, ... in order of from_period."),
        C("from_period", "g.from_period", "text", "First coverage month this payer pays for, YYYY-MM."),
        C("from_on", period_start("g.from_period", "s.anchor_day"), "date",
          "The day from_period starts (the chain's anchor day)."),
        C("until_period", "LEAD(g.from_period) OVER (PARTITION BY g.member_id, g.spell_no ORDER BY g.from_period)",
          "text", "The next segment's from_period (exclusive), NULL for the current payer."),
        C("until_on", period_start("LEAD(g.from_period) OVER (PARTITION BY g.member_id, g.spell_no "
                                   "ORDER BY g.from_period)", "s.anchor_day"), "date",
          "The day until_period starts (exclusive), NULL for the current payer."),
        C("agreement_code", "g.agreement_code", "text", AGREEMENT_CODE),
        C("payer_id", "g.payer_id", "text", "Payer id (the member's own id for a self-payer)."),
        C("payer_type", "g.payer_type", "text", PAYER_TYPE),
        C("fund_source", "g.fund_source", "text", FUND_SOURCE),
        C("decided_on", "g.changed_on", "date", "Business date this payer was set: the enrolment, or the payer "
          "change (PayerChanged). On a date before it the previous payer is the one in force."),
    )),
    View("paid_periods", "One row per member and coverage month paid (ContributionPaid), with who paid, the "
         "split per programme and the payment reference.", f"({PAID_ROWS_SQL}) AS p", (
        C("member_id", "p.member_id", "text", MEMBER_ID),
        C("period", "p.period", "text", PERIOD),
        C("period_month", month_start("p.period"), "date", PERIOD_MONTH),
        C("agreement_code", "p.agreement_code", "text", "Agreement that paid; NULL when the member paid "
          "themselves."),
        C("payer_id", "p.payer_id", "text", "Payer id."),
        C("payer_type", "p.payer_type", "text", PAYER_TYPE),
        C("fund_source", "p.fund_source", "text", FUND_SOURCE),
        C("amount_rp", "p.amount_rp", "bigint", "Contribution for this month, whole rupiah (jkk_rp + jkm_rp + "
          "jht_rp)."),
        C("jkk_rp", "p.jkk_rp", "bigint", "Part for JKK (work accident), whole rupiah."),
        C("jkm_rp", "p.jkm_rp", "bigint", "Part for JKM (death), whole rupiah."),
        C("jht_rp", "p.jht_rp", "bigint", "Part for JHT (old-age savings), whole rupiah."),
        C("paid_on", "p.paid_on", "date", "Business date of the payment."),
        C("payment_reference", "p.payment_reference", "text", "Payment reference (e.g. the SP2D number)."),
        C("late", "p.late", "boolean", "True when paid after the month it covers (an arrear paid late, "
          "reinstating it)."),
        C("refund_due_on", "p.refund_due_on", "date", "Business date the refund became due (the death), NULL if "
          "none."),
        C("refund_due", "p.refund_due", "boolean", "True when the month was paid after the member's death: "
          "refundable to the payer (see refunds)."),
    )),
    View("claims", "Benefit claims with their life cycle (SUBMITTED, HELD, APPROVED, REJECTED, PAID) and the amount "
         "approved.", "{registers.claims} AS c LEFT JOIN {journal.claims_payable} AS cp ON cp.claim_ref = c.claim_id", (
        C("claim_id", "c.claim_id", "text", "Claim id, as in `jamsos claim ...` (e.g. BKY-JKM-2025-0001)."),
        C("claim_stream", "cp.claim_stream", "text", "Event stream of the claim: audit_trail.aggregate_id of its "
          "ClaimSubmitted, ClaimApproved, ClaimPaid ... events."),
        C("member_id", "c.member_id", "text", MEMBER_ID),
        C("claim_type", "c.claim_type", "text", "JKM_DEATH, JKK_DEATH, JKK_DISABILITY, JKK_STMB, JKK_MEDICAL or "
          "SCHOLARSHIP."),
        C("agreement_code", "c.agreement_code", "text", "Agreement funding the member when the claim was filed; "
          "NULL for a self-payer."),
        C("event_on", "c.event_date", "date", "Date of the insured event (death, accident, ...)."),
        C("submitted_on", "c.submitted_on", "date", "Business date the claim was submitted."),
        C("held_on", "c.held_on", "date", "Business date it was held (a month in the arrears window unpaid), if so."),
        C("released_on", "c.released_on", "date", "Business date a held claim was released by a payment, if so."),
        C("status", "c.status", "text", "SUBMITTED, HELD (a month in the window unpaid), APPROVED, REJECTED or PAID."),
        C("amount_rp", "c.amount_rp", "bigint", "Benefit approved, whole rupiah (0 until approved)."),
        C("components", "c.components", "text", "Benefit components approved, as JSON ({\"funeral\": 10000000, "
          "...})."),
        C("reason_code", "c.reason_code", "text", "Why it was rejected, if it was."),
        C("decided_on", "c.decided_on", "date", "Business date of the approval or rejection."),
        C("paid_on", "c.paid_on", "date", "Business date the benefit was paid."),
        C("payment_reference", "c.payment_reference", "text", "Reference of the benefit payment."),
    )),
    View("journal", "The double-entry journal: one row per leg of each money event's entry. Every entry "
         "(position) balances: sum(debit_rp) = sum(credit_rp).",
         f"({JOURNAL_ENTRIES_EXPANDED}) AS e JOIN {{journal.journal_shapes}} AS s ON s.shape = e.shape "
         "LEFT JOIN {journal.journal_shapes} AS f ON f.shape = e.shape AND f.leg = 1", (
        C("position", "e.position", "bigint", POSITION),
        C("entry_no", "e.seq", "integer", "Entry within the event, from 0 (a matching run posts one entry per "
          "booking day of its transfers)."),
        C("leg", "s.leg", "integer", "Leg number within the entry, from 1."),
        C("effective_on", "e.effective_on", "date", "Business date of the fact the entry records (a transfer's "
          "booking day; see docs/rules.md#journal-dates)."),
        C("decided_on", "e.decided_on", "date", "Business date of the event that recorded it (the matching run, "
          "the resolution); the same as effective_on for every other event."),
        C("recorded_at", "e.recorded_at", "timestamptz", "When the ledger recorded the event (ISO 8601 with its UTC "
          "offset on SQLite)."),
        C("account", "s.account", "text", "Account of the chart (ledger/journal.py), e.g. receivable:PEMKOT-SKW."),
        C("debit_rp", "s.debit_rp", "bigint", "Debit, whole rupiah (0 on a credit leg)."),
        C("credit_rp", "s.credit_rp", "bigint", "Credit, whole rupiah (0 on a debit leg)."),
        C("memo", "f.memo", "text", "What the entry records (the same on every leg of the entry)."),
    )),
    View("invoices", "Invoices issued to payers (InvoiceIssued), one per billing block of an agreement.",
         "{journal.invoices} AS i", (
        C("invoice_ref", "i.invoice_ref", "text", "Invoice number."),
        C("agreement_code", "i.agreement_code", "text", "Agreement invoiced."),
        C("payer_id", "i.payer_id", "text", "Payer invoiced."),
        C("first_period", "i.first_period", "text", "First month of the billing block, YYYY-MM."),
        C("last_period", "i.last_period", "text", "Last month of the billing block, YYYY-MM."),
        C("issued_on", "i.issued_on", "date", "Business date of issue."),
        C("amount_rp", "i.amount_rp", "bigint", "Amount invoiced, whole rupiah."),
        C("budget_rp", "i.budget_rp", "bigint", "The agreement's budget when invoiced, whole rupiah."),
        C("projected_cost_rp", "i.projected_cost_rp", "bigint", "Expected cost of the whole window when invoiced, "
          "whole rupiah."),
        C("budget_status", "i.budget_status", "text", "WITHIN, WARNING (from 80 % of the budget) or OVER_BUDGET."),
    )),
    View("invoice_lines", "One row per invoice and month: members expected and the amount billed for them.",
         "{journal.invoice_periods} AS l", (
        C("invoice_ref", "l.invoice_ref", "text", "Invoice number (invoices.invoice_ref)."),
        C("period", "l.period", "text", PERIOD),
        C("period_month", month_start("l.period"), "date", PERIOD_MONTH),
        C("agreement_code", "l.agreement_code", "text", "Agreement invoiced."),
        C("members", "l.members", "bigint", "Members expected that month."),
        C("amount_rp", "l.amount_rp", "bigint", "Amount billed for that month, whole rupiah."),
    )),
    View("bank_statements", "Bank statements imported (`jamsos reconcile import`), one row per file.",
         "{journal.statements} AS b", (
        C("statement_id", "b.statement_id", "text", STATEMENT_ID),
        C("payer_id", "b.payer_id", "text", "Payer whose transfers it lists."),
        C("file_name", "b.file_name", "text", "Name of the imported file."),
        C("file_format", "b.file_format", "text", "csv, xlsx or mt940."),
        C("imported_on", "b.imported_on", "date", "Business date of the import."),
        C("period_start", "b.period_start", "date", "First day the statement covers."),
        C("period_end", "b.period_end", "date", "Last day the statement covers."),
        C("line_count", "b.line_count", "bigint", "Number of lines."),
        C("total_rp", "b.total_rp", "bigint", "Sum of the lines, whole rupiah."),
    )),
    View("statement_lines", "Every line of every bank statement, with its reconciliation status.",
         "{journal.statement_lines} AS l", (
        C("statement_id", "l.statement_id", "text", STATEMENT_ID),
        C("line_no", "l.line_no", "bigint", LINE_NO),
        C("payer_id", "l.payer_id", "text", "Payer of the statement."),
        C("reference", "l.reference", "text", "The bank's reference (e.g. the SP2D number)."),
        C("booked_on", "l.booked_on", "date", "Booking date of the transfer."),
        C("amount_rp", "l.amount_rp", "bigint", "Amount transferred, whole rupiah."),
        C("account", "l.account", "text", "Account the transfer came from."),
        C("description", "l.description", "text", "The bank's description."),
        C("status", "l.status", "text", "NEW, MATCHED, HAND_MATCHED, EXCEPTION, WRITTEN_OFF or PARKED."),
    )),
    View("payment_allocations", "How matched transfers were allocated to invoices: one row per statement line and "
         "invoice paid.", "{journal.allocations} AS a", (
        C("position", "a.position", "bigint", POSITION),
        C("seq", "a.seq", "integer", "Order of the allocation within its event."),
        C("statement_id", "a.statement_id", "text", STATEMENT_ID),
        C("line_no", "a.line_no", "bigint", LINE_NO),
        C("invoice_ref", "a.invoice_ref", "text", "Invoice paid (invoices.invoice_ref)."),
        C("agreement_code", "a.agreement_code", "text", "Agreement of the invoice."),
        C("amount_rp", "a.amount_rp", "bigint", "Amount allocated to the invoice, whole rupiah."),
        C("rule", "a.rule", "text", "How it matched: REFERENCE_AMOUNT, AMOUNT_DATE_WINDOW, GROUPED or BY_HAND."),
        C("allocated_on", "a.effective_on", "date", "Business date the allocation counts from: the transfer's "
          "booking day."),
        C("decided_on", "a.decided_on", "date", "Business date of the matching run or the resolution that made it."),
    )),
    View("reconciliation_exceptions", "Statement lines that did not match an invoice, and how each was resolved.",
         "{journal.exceptions} AS x", (
        C("statement_id", "x.statement_id", "text", STATEMENT_ID),
        C("line_no", "x.line_no", "bigint", LINE_NO),
        C("payer_id", "x.payer_id", "text", "Payer of the statement."),
        C("kind", "x.kind", "text", "UNMATCHED, AMOUNT_MISMATCH, DUPLICATE or AMBIGUOUS."),
        C("reason", "x.reason", "text", "Why it did not match."),
        C("amount_rp", "x.amount_rp", "bigint", "Amount of the line, whole rupiah."),
        C("candidates", "x.candidates", "text", "Invoices it could have paid, comma-separated."),
        C("booked_on", "x.booked_on", "date", "Booking date of the transfer it is about."),
        C("raised_on", "x.raised_on", "date", "Business date the exception was raised."),
        C("status", "x.status", "text", "OPEN, MATCHED (by hand), WRITTEN_OFF or PARKED (suspense)."),
        C("resolved_on", "x.resolved_on", "date", "Business date of the resolution, NULL while open."),
        C("parked", "x.parked", "boolean", "True once it was parked in suspense (it stays parked until matched or "
          "written off)."),
        C("note", "x.note", "text", "The operator's note on the resolution."),
    )),
    View("refunds", "Contributions refundable to a payer because they paid months after a member's death, and "
         "their settlement.", "{journal.refunds} AS r", (
        C("claim_id", "r.claim_ref", "text", "The death claim that made them due (claims.claim_id)."),
        C("payer_id", "r.payer_id", "text", "Payer to refund."),
        C("member_id", "r.member_id", "text", MEMBER_ID),
        C("agreement_code", "r.agreement_code", "text", "Agreement that paid them; NULL for a self-payer."),
        C("periods", "r.periods", "text", "Months refundable, comma-separated YYYY-MM."),
        C("amount_rp", "r.amount_rp", "bigint", "Amount due, whole rupiah."),
        C("due_on", "r.due_on", "date", "Business date it became due."),
        C("settled_on", "r.settled_on", "date", "Business date it was paid back, NULL while open."),
        C("payment_reference", "r.payment_reference", "text", "Reference of the refund transfer."),
    )),
    View("audit_trail", "Every event of the log, in order, with a summary without personal data. The hash chain "
         "that proves nothing was changed is written with the events themselves (table jamsos_chain in the store's "
         "database; `jamsos audit verify`, `seal`, `prove`).",
         "{audit.audit_events} AS e JOIN {audit.audit_facts} AS t ON t.fact_id = e.fact_id", (
        C("position", "e.position", "bigint", POSITION),
        C("recorded_at", "t.recorded_at", "timestamptz", "When the ledger recorded it (ISO 8601 with its UTC offset "
          "on SQLite)."),
        C("effective_on", "NULLIF(t.effective_on, '')", "date", "Business date of the event."),
        C("actor", "t.actor", "text", "Who issued the command."),
        C("command_id", "t.command_id", "text", "Idempotency key of the command that wrote it."),
        C("aggregate_id", "e.aggregate_id", "text", "Event stream: a member's member_id, a claim's "
          "claims.claim_stream, an agreement's or a statement's stream id."),
        C("aggregate_version", "e.aggregate_version", "integer", "Version of the stream after the event, from 1."),
        C("event_type", "t.event_type", "text", "Event type (MemberEnrolled, ContributionPaid, ...)."),
        C("subject", "t.subject", "text", "The agreement or claim the event is about, if any."),
        C("summary", "t.summary", "text", "What happened, without personal data."),
    )),
    View("agreement_budgets", "Every budget ceiling of an agreement from the business date it holds: the one "
         "signed, then each amendment (APBD-P). The budget on a date is the last row effective by then.",
         "{registers.budgets} AS b", (
        C("agreement_code", "b.agreement_code", "text", AGREEMENT_CODE),
        C("effective_on", "b.effective_on", "date", "From when this ceiling holds."),
        C("budget_rp", "b.budget_rp", "bigint", "Budget ceiling of the whole window, whole rupiah."),
        C("reason", "b.reason", "text", "'signed', or why it was amended."),
        C("position", "b.position", "bigint", POSITION),
    )),
    View("workforce", "Working population per region over time: the denominator of UCJ coverage.",
         "{registers.workforce} AS w", (
        C("region_code", "w.region_code", "text", "Kemendagri region code."),
        C("effective_on", "w.effective_on", "date", "From when the figure holds."),
        C("workforce", "w.workforce", "bigint", "Working population (people)."),
        C("source", "w.source", "text", "Where the figure comes from (e.g. BPS Sakernas 2025)."),
    )),
)
VIEWS_BY_NAME = {v.name: v for v in VIEWS}


# --- docs/sql.md -------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sql.md"
BEGIN_MARK = "<!-- BEGIN views (generated by `make sqldocs` from projections/sql_views.py; do not edit) -->"
END_MARK = "<!-- END views -->"


def markdown_reference() -> str:
    """The reference part of ``docs/sql.md``: every view and column with its PostgreSQL type and comment."""
    out = [BEGIN_MARK, ""]
    for v in VIEWS:
        tables = ", ".join(f"`{p}.{t}`" for p, t in v.tables)
        out += [f"### `{v.name}`", "", v.comment, "", f"Source (projection.table): {tables}.", "",
                "| column | PostgreSQL type | meaning |", "|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {c.comment.replace('|', '/')} |" for c in v.columns]
        out.append("")
    out.append(END_MARK)
    return "\n".join(out)


def with_fresh_reference(text: str) -> str:
    """``text`` (docs/sql.md) with its generated part replaced by the current one."""
    start, end = text.index(BEGIN_MARK), text.index(END_MARK) + len(END_MARK)
    return text[:start] + markdown_reference() + text[end:]


def main(argv: list[str]) -> int:
    """``python -m projections.sql_views [--check]``: rewrite (or check) the reference part of docs/sql.md."""
    current = DOCS.read_text(encoding="utf-8")
    fresh = with_fresh_reference(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOCS} is stale: run `make sqldocs`", file=sys.stderr)
            return 1
        return 0
    DOCS.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
