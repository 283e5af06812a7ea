"""Terminal rendering of the read views (``--json`` prints the same data raw)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.escapes import printable
from ledger.values import format_count, format_rp


def terminal_safe(value: Any) -> Any:
    """``value`` (a view, a result) with every string made safe to print through rich: control and bidirectional
    characters written as escapes (``\\x1b``, ``ledger.escapes.printable``) and rich's markup escaped (a name
    ``[link=...]`` is text, not a hyperlink escape sequence). Keys too; numbers and the rest unchanged
    (docs/rules.md#text-output)."""
    if isinstance(value, str):
        return escape(printable(value))
    if isinstance(value, dict):
        return {terminal_safe(k): terminal_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [terminal_safe(v) for v in value]
    return value


def rp(amount: int | None) -> str:
    """Rupiah the Indonesian way: Rp1.234.567, -Rp16.800; "-" for none."""
    return "-" if amount is None else format_rp(amount)


def _kv(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))
    return table


def render_member(console: Console, view: dict[str, Any]) -> None:
    cov = view["coverage"]
    console.print(_kv(f"Member {view['member_id']}", [
        ("region / village", f"{view['region_code']} / {view['village_code'] or '-'}"),
        ("role", view["role"]),
        ("programmes", ", ".join(view["programmes"])),
        ("declared income", rp(view["declared_income_rp"])),
        ("contributions paid", f"{rp(view['contributions_paid_rp'])} ({view['periods_paid']} months)"),
        ("JHT balance", rp(view["jht_balance_rp"])),
        ("died on", view["died_on"] or "-"),
        (f"on {cov['on']}", ("covered" if cov["covered"] else "not covered")
         + (f", period {cov['period']}, payer {cov['payer_id']}" if cov["period"] else "")),
        ("as of", view["as_of"] or "now"),
        ("personal data", "erased" if view["personal_data_erased"] else "sealed"),
    ]))
    spells = Table(title="Membership chains", title_justify="left")
    for col in ("enrolled", "first period", "payers", "paid through", "lapsed", "reason"):
        spells.add_column(col)
    for s in view["spells"]:
        payers = ", ".join(
            f"{p['payer_id']} ({p['agreement_code'] or 'self'}) from {p['from_period']}" for p in s["payers"]
        )
        spells.add_row(s["enrolled_on"], s["first_period"], payers, s["paid_through"] or "-", s["lapsed_on"] or "-",
                       s["lapse_reason"] or "-")
    console.print(spells)
    if view["claims"]:
        claims = Table(title="Claims", title_justify="left")
        for col in ("claim", "type", "event date", "status", "amount", "components", "paid on"):
            claims.add_column(col)
        for c in view["claims"]:
            parts = ", ".join(f"{k} {rp(v)}" for k, v in c["components"].items()) or (c["reason_code"] or "-")
            claims.add_row(c["claim_id"], c["type"], c["event_date"], c["status"], rp(c["amount_rp"]), parts,
                           c["paid_on"] or "-")
        console.print(claims)
    if view["refunds_due"]:
        periods = ", ".join(r["period"] for r in view["refunds_due"])
        payers = ", ".join(sorted({r["payer_id"] for r in view["refunds_due"]}))
        console.print(f"[bold]Refund due[/bold] to {payers}: {rp(view['refund_due_rp'])} for {periods}")
    if "personal" in view:
        console.print(_kv("Personal data (revealed)", list(view["personal"].items())
                          if isinstance(view["personal"], dict) else [("status", view["personal"])]))


def render_agreement(console: Console, view: dict[str, Any]) -> None:
    payer = view["payer"]
    console.print(_kv(f"Agreement {view['agreement_id']}: {view['name']}", [
        ("payer", f"{payer['name']} ({payer['id']}, {payer['type']}, {payer['fund_source']})"),
        ("legal basis", view["legal_basis"] or "-"),
        ("region", view["region_code"]),
        ("window", view["window"]),
        ("programmes", ", ".join(view["programmes"])),
        ("rate per member-month", rp(view["rate_per_member_month_rp"])),
        ("billing", view["billing_cadence"]),
        ("budget", rp(view["budget_rp"])),
        ("members enrolled", format_count(view["members_enrolled"])),
        (f"active on {view['on']}", format_count(view["members_active_on"])),
        (f"covered on {view['on']}", format_count(view["members_covered_on"])),
        ("contributions paid", rp(view["contributions_paid_rp"])),
        ("refunds due", rp(view["refunds_due_rp"])),
        ("as of", view["as_of"] or "now"),
    ]))


def render_demo(console: Console, summary: dict[str, Any]) -> None:
    events = format_count(summary["events_recorded"])
    table = Table(title=f"Seed schemes recorded in {summary['store']} ({events} events)",
                  title_justify="left")
    for col in ("agreement", "window", "members", "contributions paid", "refunds due", "budget"):
        table.add_column(col, justify="right" if col not in ("agreement", "window") else "left")
    for code, a in summary["agreements"].items():
        table.add_row(code, a["window"], format_count(a["members_enrolled"]), rp(a["contributions_paid_rp"]),
                      rp(a["refunds_due_rp"]), rp(a["budget_rp"]))
    console.print(table)
    heir = summary["bengkayang_heir"]
    claim = heir["claims"][0] if heir["claims"] else None
    console.print(_kv("Figures read back from the ledger", [
        ("Singkawang active 31 Jan 2026", format_count(summary["singkawang_active_2026_01_31"])),
        ("Singkawang active 31 May 2026", format_count(summary["singkawang_active_2026_05_31"])),
        ("Singkawang contributions", rp(summary["singkawang_contributions_rp"])),
        ("Bengkayang heir (NIK)", heir["nik"]),
        ("  JKM claim", f"{claim['status']} {rp(claim['amount_rp'])} = "
                        + " + ".join(f"{k} {rp(v)}" for k, v in claim["components"].items()) if claim else "-"),
        ("  refund due to payer", f"{rp(heir['refund_due_rp'])} ({len(heir['refunds_due'])} months)"),
        ("Pontianak 2025 claims", f"{summary['pontianak_2025_claims']['count']} paid, "
                                  f"{rp(summary['pontianak_2025_claims']['paid_rp'])}"),
        ("Kendari death benefits", ", ".join(rp(x) for x in summary["kendari_death_benefits_rp"])),
        ("Singkawang expected (both schemes)", rp(summary["money"]["singkawang_expected_rp"])),
        ("Journal", ("balanced" if summary["money"]["journal_ok"] else "BREACH")
         + f": debits {rp(summary['money']['journal_debit_rp'])}, "
           f"credits {rp(summary['money']['journal_credit_rp'])}"),
        ("Web users", f"{', '.join(summary.get('web_users', [])) or '-'} (passwords in "
                      f"{summary.get('web_users_file', '-')})"),
    ]))
    money = Table(title="Finance: budget, expected, billed, paid, received per agreement", title_justify="left")
    for col in ("agreement", "budget", "expected", "billed", "paid", "received", "budget status", "exceptions",
                "refunds due"):
        money.add_column(col, justify="left" if col in ("agreement", "budget status") else "right")
    for code, m in summary["money"]["agreements"].items():
        status = m["budget_status"] if m["budget_status"] != "OVER_BUDGET" else "[red]OVER_BUDGET[/red]"
        money.add_row(code, rp(m["budget_rp"]), rp(m["expected_rp"]), rp(m["billed_rp"]), rp(m["paid_rp"]),
                      rp(m["received_rp"]), status, str(m["open_exceptions"]), rp(m["refunds_due_rp"]))
    console.print(money)
    console.print(f"\nNext: jamsos member show {heir['nik']} --store {summary['store'].removeprefix('sqlite:///')}")


def render_report(console: Console, report: dict[str, Any]) -> None:
    zone = f" ({report['zone']})" if report.get("zone") else ""
    when = f"on {report['on']}{zone}" + (f", as recorded by {report['as_of']}" if report["as_of"] else "")
    scope = f" — {report['agreement']}" if report.get("agreement") else ""
    position = format_count(report["position"])
    console.print(f"[bold]{report['report']} report{scope}[/bold] {when} (log position {position})")
    for name, section in report["sections"].items():
        table = Table(title=name, title_justify="left")
        for column in section["columns"]:
            table.add_column(column, justify="left" if not section["rows"] or isinstance(
                section["rows"][0][section["columns"].index(column)], str) else "right")
        for row in section["rows"]:
            table.add_row(*[rp(v) if c.endswith("_rp") and isinstance(v, int) else
                            (format_count(v) if isinstance(v, int) else "-" if v is None else str(v))
                            for c, v in zip(section["columns"], row, strict=True)])
        console.print(table)
    console.print(_kv("totals", [(k, rp(v) if k.endswith("_rp") and isinstance(v, int) else str(v))
                                 for k, v in report["totals"].items()]))


def render_check(console: Console, result: dict[str, Any]) -> None:
    verdict = "[green]OK[/green]" if result["ok"] else "[red]BREACH[/red]"
    entries = format_count(result["entries"])
    console.print(f"[bold]jamsos check[/bold] on {result['on']}: {verdict} — {entries} journal entries, "
                  f"debits {rp(result['debit_rp'])} = credits {rp(result['credit_rp'])}"
                  if result["debit_rp"] == result["credit_rp"] else
                  f"[bold]jamsos check[/bold] on {result['on']}: {verdict}")
    for breach in result["breaches"]:
        console.print(f"  [red]breach[/red]: {breach}")
    render_report(console, {"report": "open items", "on": result["on"], "as_of": None, "position": 0,
                            "sections": {"open_items": result["open_items"]},
                            "totals": {"open_items": len(result["open_items"]["rows"])}})


def render_statement_import(console: Console, summary: dict[str, Any]) -> None:
    """Each statement of an imported file: its status, lines and total."""
    table = Table(title=f"{summary['file']} for {summary['payer_id']}: {format_count(summary['imported'])} "
                        f"imported, {format_count(summary['already_imported'])} already imported",
                  title_justify="left")
    for col in ("#", ":20:", "statement", "period", "credit lines", "total", "debits skipped", "status"):
        table.add_column(col, justify="right" if col in ("#", "credit lines", "total", "debits skipped") else "left")
    for r in summary["statements"]:
        status = r["status"] + (" (replayed)" if r.get("replayed") else "") + (
            f": {r['reason']}" if r.get("reason") else "")
        table.add_row(str(r["number"]), r["reference"] or "-", r["statement"][:12], r["period"],
                      format_count(r["lines"]), rp(r["total_rp"]), format_count(r["debit_lines_skipped"]), status)
    console.print(table)


def render_rows(console: Console, rows: list[dict[str, Any]], title: str = "") -> None:
    """A list of flat records as one table, a column per key of the first record."""
    table = Table(title=title or None, title_justify="left")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["-" if row[c] is None else ", ".join(map(str, row[c])) if isinstance(row[c], list)
                        else str(row[c]) for c in columns])
    console.print(table if rows else "(none)")
