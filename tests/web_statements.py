"""Bank statements for the reconciliation page's tests (TestClient and browser), built from the ledger's own data.

The demo (``tests/web_support.py``, scale 0.02) leaves Bengkayang (payer ``PEMKAB-BKY``) with every invoice paid:
its two agreements are annual and their window (2025) is billed whole. So :func:`bengkayang_statement` first gives
the payer an invoice outstanding when it has none — a one-member agreement ``BKY-WEB-2026`` signed, its member
enrolled and its first month billed, each as the principal of the role it needs — and then writes the payer's
statement of the day: one transfer naming that invoice for its outstanding amount (matched by reference and
amount) and one transfer with a reference no invoice has (an UNMATCHED exception finance can write off or park).
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from typing import Any

from cli.seed_demo import synthetic_nik
from commands.authorise import Actor
from commands.handlers import execute
from commands.messages import BillAgreement, EnrolMember, SignAgreement, make
from eventstore.bootstrap import Ledger
from ledger.business_time import WIB
from ledger.principal import Scope
from ledger.values import Role
from projections.agreement_list import agreements
from projections.money_views import MoneyViews, invoice_outstanding

PAYER = "PEMKAB-BKY"
REGION = "61.07"
EXTRA_AGREEMENT = "BKY-WEB-2026"
EXTRA_NIK_INDEX = 89_990
"""The demo's people are numbered from 0 upwards in each region (far below this): a NIK of no demo member."""
UNKNOWN_REFERENCE = "SP2D/PEMKAB-BKY/TANPA-TAGIHAN"


def _as(role: Role) -> Actor:
    return Actor(f"test-{role.value}", frozenset({role}), Scope("all"))


def today(ledger: Ledger) -> date:
    return ledger.clock.now().astimezone(WIB).date()


def bengkayang_open_invoice(ledger: Ledger) -> dict[str, Any]:
    """An invoice of Bengkayang with money outstanding (the oldest), billing one when there is none."""
    views = MoneyViews(ledger.store)
    open_now = [i for i in invoice_outstanding(views, PAYER).values() if i["outstanding_rp"] > 0]
    if open_now:
        return min(open_now, key=lambda i: (i["issued_on"], i["invoice_ref"]))
    day = today(ledger)
    period = f"{day:%Y-%m}"
    if EXTRA_AGREEMENT not in {a.code for a in agreements(ledger.store)}:
        last = f"{day.year + 1}-{day.month - 1:02d}" if day.month > 1 else f"{day.year}-12"
        bky = next(a for a in agreements(ledger.store) if a.payer_id == PAYER)
        execute(ledger, make(SignAgreement, agreement_id=EXTRA_AGREEMENT, name="Uji rekonsiliasi dasbor",
                             payer_id=PAYER, payer_name=bky.payer_name, payer_type="APBD_KAB", fund_source="APBD",
                             region_code=REGION, first_period=period, last_period=last, budget_rp=10_000_000),
                _as(Role.BUDGET_OWNER))
        execute(ledger, make(EnrolMember, nik=synthetic_nik(REGION, EXTRA_NIK_INDEX), name="Peserta Uji Dasbor",
                             agreement_id=EXTRA_AGREEMENT, region_code=REGION, role="PETANI"), _as(Role.OPERATOR))
    execute(ledger, make(BillAgreement, agreement_id=EXTRA_AGREEMENT, period=period), _as(Role.FINANCE))
    return bengkayang_open_invoice(ledger)


def bengkayang_statement(ledger: Ledger) -> tuple[str, bytes]:
    """``(file name, CSV bytes)``: Bengkayang's statement of today, which once uploaded and matched gives one
    MATCHED line (the open invoice, by reference and amount) and one open UNMATCHED exception (line 5 of the file:
    the two ``#`` lines, the header, then the transfers)."""
    invoice = bengkayang_open_invoice(ledger)
    day = today(ledger)
    stray_rp = invoice["outstanding_rp"] // 3 + 7  # no invoice's amount: the invoice is closed by the first line
    out = io.StringIO()
    out.write(f"# period: {day:%Y-%m}-01..{day}\n# account: 0011223344\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sp2d_number", "date", "amount", "description"])
    writer.writerow([f"SP2D/{invoice['invoice_ref']}", day.isoformat(), invoice["outstanding_rp"],
                     f"Iuran BPU {invoice['invoice_ref']}"])
    writer.writerow([UNKNOWN_REFERENCE, day.isoformat(), stray_rp, "transfer tanpa tagihan"])
    return f"rekening-koran-{PAYER}-{day}.csv", out.getvalue().encode()


def corrupt_xlsx() -> bytes:
    """A file that starts as a workbook (a zip) and is not one: a truncated archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>" * 50)
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def unbalanced_mt940(ledger: Ledger) -> bytes:
    """An MT940 statement of Bengkayang whose closing balance is a rupiah off its opening plus the transfer."""
    invoice = bengkayang_open_invoice(ledger)
    day = today(ledger)
    opening_rp, amount_rp = 1_000_000, invoice["outstanding_rp"]
    lines = [":20:BKY-TIDAK-SEIMBANG", ":25:0011223344", ":28C:1/1", f":60F:C{day:%y%m%d}IDR{opening_rp},00",
             f":61:{day:%y%m%d}{day:%m%d}C{amount_rp},00NTRFNONREF//WEB1",
             f":86:SP2D 00991/SP2D/LS {invoice['invoice_ref']}",
             f":62F:C{day:%y%m%d}IDR{opening_rp + amount_rp + 1},00", "-"]
    return ("\n".join(lines) + "\n").encode()
