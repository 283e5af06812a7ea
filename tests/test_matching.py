"""The matching cascade of ledger.reconciliation: each rule and exception by hand, then properties and an oracle."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidInput, RuleViolation
from ledger.reconciliation import (
    MATCHING_RULES,
    ExceptionKind,
    Match,
    MatchRule,
    OpenInvoice,
    ReconciliationResult,
    StatementLine,
    Unreconciled,
    matching_rules_in_force,
    reconcile,
    reference_tokens,
)

PAYER = "PEMKAB-SKW"
D0 = date(2026, 1, 1)
RULES = matching_rules_in_force(D0)


def inv(n: int, amount: int, issued: date = D0, payer: str = PAYER) -> OpenInvoice:
    return OpenInvoice(f"inv-{payer}-{n:03d}", f"INV-{payer}-{n:03d}", payer, issued, amount)


def line(n: int, amount: int, booked: date = D0 + timedelta(days=10), *, ref: str | None = None,
         desc: str = "", stmt: str = "s1", valued: date | None = None) -> StatementLine:
    return StatementLine(stmt, n, ref or f"{n:05d}/SP2D/LS/2026", booked, amount, "123", desc, valued or booked)


def outcome(result: ReconciliationResult) -> dict[int, tuple[str, tuple[str, ...]]]:
    out: dict[int, tuple[str, tuple[str, ...]]] = {}
    for m in result.matches:
        out[m.line.line_no] = (m.rule.value, m.invoice_ids)
    for e in result.exceptions:
        out[e.line.line_no] = (e.kind.value, e.candidate_invoice_ids)
    return out


Outcome = dict[int, tuple[str, tuple[str, ...]]]


def run(lines: list[StatementLine], invoices: list[OpenInvoice], **kw: object) -> Outcome:
    return outcome(reconcile(lines, invoices, payer_id=PAYER, **kw))  # type: ignore[arg-type]


# -- rule 1: reference + amount ------------------------------------------------------------------------


def test_reference_and_amount_match() -> None:
    invoices = [inv(1, 16800), inv(2, 16800)]
    result = reconcile([line(1, 16800, desc="bayar iuran inv-pemkab-skw-002 januari")], invoices, payer_id=PAYER)
    assert result.matches == (Match(result.matches[0].line, MatchRule.REFERENCE_AMOUNT, ("inv-PEMKAB-SKW-002",),
                                    (16800,)),)
    assert result.exceptions == ()


def test_reference_in_the_sp2d_field_also_counts() -> None:
    assert run([line(1, 500, ref="INV-PEMKAB-SKW-001")], [inv(1, 500), inv(2, 500)]) == {
        1: ("REFERENCE_AMOUNT", ("inv-PEMKAB-SKW-001",))}


def test_reference_with_a_different_amount_is_an_amount_mismatch() -> None:
    result = reconcile([line(1, 16000, desc="INV-PEMKAB-SKW-001")], [inv(1, 16800)], payer_id=PAYER)
    (exc,) = result.exceptions
    assert exc.kind is ExceptionKind.AMOUNT_MISMATCH
    assert exc.candidate_invoice_ids == ("inv-PEMKAB-SKW-001",)
    assert "Rp16.800" in exc.reason
    assert result.matches == ()


def test_named_invoice_is_never_bypassed_by_the_amount_rule() -> None:
    # the line names invoice 1 but pays invoice 2's amount: a person decides, not the amount rule
    assert run([line(1, 700, desc="INV-PEMKAB-SKW-001")], [inv(1, 500), inv(2, 700)]) == {
        1: ("AMOUNT_MISMATCH", ("inv-PEMKAB-SKW-001",))}


def test_several_references_summing_to_the_amount_are_grouped() -> None:
    invoices = [inv(3, 300, D0 + timedelta(days=2)), inv(1, 100), inv(2, 200, D0 + timedelta(days=1))]
    result = reconcile([line(1, 400, desc="INV-PEMKAB-SKW-003, INV-PEMKAB-SKW-001.")], invoices, payer_id=PAYER)
    (m,) = result.matches
    assert (m.rule, m.invoice_ids, m.allocations_rp) == (
        MatchRule.GROUPED, ("inv-PEMKAB-SKW-001", "inv-PEMKAB-SKW-003"), (100, 300))


def test_several_references_not_summing_to_the_amount_are_a_mismatch() -> None:
    assert run([line(1, 350, desc="INV-PEMKAB-SKW-001 INV-PEMKAB-SKW-002")], [inv(1, 100), inv(2, 200)]) == {
        1: ("AMOUNT_MISMATCH", ("inv-PEMKAB-SKW-001", "inv-PEMKAB-SKW-002"))}


def test_an_invoice_paid_by_an_earlier_line_cannot_be_paid_again() -> None:
    lines = [line(1, 500, desc="INV-PEMKAB-SKW-001"), line(2, 500, D0 + timedelta(days=11), desc="INV-PEMKAB-SKW-001")]
    assert run(lines, [inv(1, 500), inv(2, 500)]) == {
        1: ("REFERENCE_AMOUNT", ("inv-PEMKAB-SKW-001",)), 2: ("AMOUNT_MISMATCH", ("inv-PEMKAB-SKW-001",))}


def test_tokens_match_whole_references_only() -> None:
    assert reference_tokens("bayar INV-A-011, inv-a-01.", "INV-A-01") == ["BAYAR", "INV-A-011", "INV-A-01"]
    # "INV-PEMKAB-SKW-0011" is not invoice 001: falls through to the amount rule
    assert run([line(1, 500, desc="INV-PEMKAB-SKW-0011")], [inv(1, 500)]) == {
        1: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-001",))}


def test_invoices_of_other_payers_are_ignored() -> None:
    other = inv(1, 500, payer="PEMKOT-X")
    assert run([line(1, 500, desc=other.reference)], [other]) == {1: ("UNMATCHED", ())}


# -- rule 2: amount within the date window -------------------------------------------------------------


def test_one_invoice_of_that_amount_in_the_window_matches() -> None:
    invoices = [inv(1, 500), inv(2, 700)]
    assert run([line(1, 700)], invoices) == {1: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-002",))}


def test_window_bounds_are_inclusive_and_come_from_the_rules() -> None:
    booked = D0 + timedelta(days=100)
    edge_before = inv(1, 500, booked - timedelta(days=RULES.window_before_days))
    edge_after = inv(2, 700, booked + timedelta(days=RULES.window_after_days))
    too_early = inv(3, 900, booked - timedelta(days=RULES.window_before_days + 1))
    too_late = inv(4, 1100, booked + timedelta(days=RULES.window_after_days + 1))
    lines = [line(1, 500, booked), line(2, 700, booked), line(3, 900, booked), line(4, 1100, booked)]
    assert run(lines, [edge_before, edge_after, too_early, too_late]) == {
        1: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-001",)), 2: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-002",)),
        3: ("UNMATCHED", ()), 4: ("UNMATCHED", ())}


def test_the_window_counts_from_the_booking_date_not_the_value_date() -> None:
    """A transfer booked on the window's last day but valued the day after (or long before) still matches;
    one booked a day past the window does not, whatever its value date."""
    booked = D0 + timedelta(days=100)
    edge = inv(1, 500, booked + timedelta(days=RULES.window_after_days))
    late = inv(2, 700, booked - timedelta(days=RULES.window_before_days + 1))
    lines = [line(1, 500, booked, valued=booked - timedelta(days=RULES.window_before_days + 30)),
             line(2, 700, booked, valued=booked - timedelta(days=RULES.window_before_days))]
    assert run(lines, [edge, late]) == {1: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-001",)), 2: ("UNMATCHED", ())}


def test_several_invoices_of_that_amount_are_ambiguous() -> None:
    invoices = [inv(2, 500, D0 + timedelta(days=1)), inv(1, 500), inv(3, 700)]
    result = reconcile([line(1, 500)], invoices, payer_id=PAYER)
    (exc,) = result.exceptions
    assert exc.kind is ExceptionKind.AMBIGUOUS
    assert exc.candidate_invoice_ids == ("inv-PEMKAB-SKW-001", "inv-PEMKAB-SKW-002")


def test_a_named_match_removes_the_ambiguity_for_a_later_line() -> None:
    lines = [line(1, 500, desc="INV-PEMKAB-SKW-001"), line(2, 500, D0 + timedelta(days=12))]
    assert run(lines, [inv(1, 500), inv(2, 500)]) == {
        1: ("REFERENCE_AMOUNT", ("inv-PEMKAB-SKW-001",)), 2: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-002",))}


def test_ambiguous_candidates_are_capped() -> None:
    invoices = [inv(i, 500) for i in range(RULES.candidates_max + 5)]
    result = reconcile([line(1, 500)], invoices, payer_id=PAYER)
    (exc,) = result.exceptions
    assert len(exc.candidate_invoice_ids) == RULES.candidates_max
    assert exc.reason.startswith("more than")


# -- rule 3: grouped sums ------------------------------------------------------------------------------


def test_contiguous_run_summing_to_the_amount_is_grouped() -> None:
    amounts = [16800, 33600, 50400, 67200, 100000]
    invoices = [inv(i, a, D0 + timedelta(days=i)) for i, a in enumerate(amounts)]
    result = reconcile([line(1, 33600 + 50400 + 67200)], invoices, payer_id=PAYER)
    (m,) = result.matches
    assert m.rule is MatchRule.GROUPED
    assert m.invoice_ids == ("inv-PEMKAB-SKW-001", "inv-PEMKAB-SKW-002", "inv-PEMKAB-SKW-003")
    assert m.allocations_rp == (33600, 50400, 67200)


def test_non_contiguous_subsets_are_not_grouped() -> None:
    invoices = [inv(1, 100), inv(2, 1000, D0 + timedelta(days=1)), inv(3, 200, D0 + timedelta(days=2))]
    assert run([line(1, 300)], invoices) == {1: ("UNMATCHED", ())}


def test_runs_skip_invoices_already_paid() -> None:
    invoices = [inv(1, 100), inv(2, 1000, D0 + timedelta(days=1)), inv(3, 200, D0 + timedelta(days=2))]
    lines = [line(1, 1000, desc="INV-PEMKAB-SKW-002"), line(2, 300, D0 + timedelta(days=11))]
    assert run(lines, invoices) == {
        1: ("REFERENCE_AMOUNT", ("inv-PEMKAB-SKW-002",)), 2: ("GROUPED", ("inv-PEMKAB-SKW-001", "inv-PEMKAB-SKW-003"))}


def test_several_runs_are_ambiguous() -> None:
    invoices = [inv(i, 100, D0 + timedelta(days=i)) for i in range(3)]  # runs 0-1 and 1-2 both sum to 200
    result = reconcile([line(1, 200)], invoices, payer_id=PAYER)
    (exc,) = result.exceptions
    assert exc.kind is ExceptionKind.AMBIGUOUS
    assert exc.candidate_invoice_ids == ("inv-PEMKAB-SKW-000", "inv-PEMKAB-SKW-001", "inv-PEMKAB-SKW-002")


def test_runs_longer_than_group_invoices_max_are_not_grouped() -> None:
    size = RULES.group_invoices_max
    invoices = [inv(i, 10 + i, D0 + timedelta(days=i % 30)) for i in range(size + 1)]
    assert run([line(1, sum(10 + i for i in range(size)))], invoices)[1][0] == "GROUPED"
    assert run([line(1, sum(10 + i for i in range(size + 1)))], invoices) == {1: ("UNMATCHED", ())}


# -- duplicates, order, errors -------------------------------------------------------------------------


def test_same_transfer_twice_in_the_input_is_a_duplicate_never_matched() -> None:
    a = line(1, 500, ref="00001/SP2D/LS/2026")
    b = line(2, 500, ref="00001/sp2d/ls/2026", stmt="s2")
    result = reconcile([b, a], [inv(1, 500), inv(2, 500, D0 + timedelta(days=300))], payer_id=PAYER)
    assert [m.line for m in result.matches] == [a]
    (exc,) = result.exceptions
    assert (exc.line, exc.kind, exc.candidate_invoice_ids) == (b, ExceptionKind.DUPLICATE, ())


def test_transfer_already_recorded_from_an_earlier_statement_is_a_duplicate() -> None:
    a = line(1, 500, ref="00001/SP2D/LS/2026")
    result = reconcile([a], [inv(1, 500)], payer_id=PAYER, known_transfers={("00001/SP2D/LS/2026", 500, a.booked_on)})
    assert [e.kind for e in result.exceptions] == [ExceptionKind.DUPLICATE]
    other_day = reconcile([a], [inv(1, 500)], payer_id=PAYER,
                          known_transfers=[("00001/SP2D/LS/2026", 500, a.booked_on - timedelta(days=1))])
    assert len(other_day.matches) == 1


def test_lines_are_processed_by_booking_date_whatever_their_order() -> None:
    late = line(1, 500, D0 + timedelta(days=20))
    early = line(2, 500, D0 + timedelta(days=5))
    result = reconcile([late, early], [inv(1, 500)], payer_id=PAYER)
    assert [m.line for m in result.matches] == [early]
    assert [e.line for e in result.exceptions] == [late]
    assert result.exceptions[0].kind is ExceptionKind.UNMATCHED


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput, match="given twice"):
        reconcile([line(1, 500), line(1, 600)], [], payer_id=PAYER)
    with pytest.raises(InvalidInput, match="given twice"):
        reconcile([], [inv(1, 500), inv(1, 600)], payer_id=PAYER)
    with pytest.raises(InvalidInput) as err:
        line(7, 0)
    assert err.value.field == "line 7: amount"
    with pytest.raises(InvalidInput) as err:
        StatementLine("s", 7, "", D0, 500, "", "", D0)
    assert err.value.field == "line 7: sp2d_number"
    with pytest.raises(InvalidInput):
        OpenInvoice("i", "INV 1", PAYER, D0, 500)
    with pytest.raises(InvalidInput):
        OpenInvoice("i", "INV-1", PAYER, D0, -5)


def test_rules_are_dated() -> None:
    assert matching_rules_in_force(date(2030, 1, 1)) is MATCHING_RULES[-1]
    with pytest.raises(RuleViolation):
        matching_rules_in_force(MATCHING_RULES[0].valid_from - timedelta(days=1))
    with pytest.raises(RuleViolation):
        reconcile([line(1, 500)], [], payer_id=PAYER, on=date(2000, 1, 1))
    assert run([line(1, 500)], [inv(1, 500)], on=D0) == {1: ("AMOUNT_DATE_WINDOW", ("inv-PEMKAB-SKW-001",))}


# -- properties ----------------------------------------------------------------------------------------


def oracle(lines: list[StatementLine], invoices: list[OpenInvoice], known: set[tuple[str, int, date]]
           ) -> dict[tuple[str, int], tuple[str, tuple[str, ...]]]:
    """The cascade written the slow, obvious way: list scans, no indexes."""
    mine = sorted((i for i in invoices if i.payer_id == PAYER), key=lambda i: (i.issued_on, i.invoice_id))
    owed = {i.invoice_id: i.outstanding_rp for i in mine}
    seen = {(r.upper(), a, d) for r, a, d in known}
    out: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {}
    for ln in sorted(lines, key=lambda x: (x.booked_on, x.statement_id, x.line_no)):
        t = (ln.reference.upper(), ln.amount_rp, ln.booked_on)
        if t in seen:
            out[ln.key] = ("DUPLICATE", ())
            continue
        seen.add(t)
        rules = matching_rules_in_force(ln.booked_on)
        words = set(reference_tokens(ln.reference, ln.description))
        named = [i for i in mine if i.reference.upper() in words]
        if len(named) == 1:
            i = named[0]
            if owed[i.invoice_id] == ln.amount_rp:
                owed[i.invoice_id] = 0
                out[ln.key] = ("REFERENCE_AMOUNT", (i.invoice_id,))
            else:
                out[ln.key] = ("AMOUNT_MISMATCH", (i.invoice_id,))
            continue
        if named:
            amounts = [owed[i.invoice_id] for i in named]
            if all(amounts) and sum(amounts) == ln.amount_rp and len(named) <= rules.group_invoices_max:
                for i in named:
                    owed[i.invoice_id] = 0
                out[ln.key] = ("GROUPED", tuple(i.invoice_id for i in named))
            else:
                out[ln.key] = ("AMOUNT_MISMATCH", tuple(i.invoice_id for i in named))
            continue
        lo = ln.booked_on - timedelta(days=rules.window_before_days)
        hi = ln.booked_on + timedelta(days=rules.window_after_days)
        window = [i for i in mine if lo <= i.issued_on <= hi and owed[i.invoice_id] > 0]
        same = [i for i in window if owed[i.invoice_id] == ln.amount_rp]
        if len(same) == 1:
            owed[same[0].invoice_id] = 0
            out[ln.key] = ("AMOUNT_DATE_WINDOW", (same[0].invoice_id,))
            continue
        if same:
            out[ln.key] = ("AMBIGUOUS", tuple(i.invoice_id for i in same[: rules.candidates_max]))
            continue
        runs = [window[s:e] for s in range(len(window)) for e in range(s + 2, min(s + rules.group_invoices_max,
                                                                                  len(window)) + 1)
                if sum(owed[i.invoice_id] for i in window[s:e]) == ln.amount_rp]
        if len(runs) == 1:
            for i in runs[0]:
                owed[i.invoice_id] = 0
            out[ln.key] = ("GROUPED", tuple(i.invoice_id for i in runs[0]))
        elif runs:
            cands = list(dict.fromkeys(i.invoice_id for run_ in runs for i in run_))
            out[ln.key] = ("AMBIGUOUS", tuple(cands[: rules.candidates_max]))
        else:
            out[ln.key] = ("UNMATCHED", ())
    return out


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[StatementLine], list[OpenInvoice], set[tuple[str, int, date]], int]:
    n_inv = draw(st.integers(0, 14))
    amounts = st.sampled_from([100, 200, 300, 500, 16800])
    invoices = [
        OpenInvoice(f"i{k}", f"INV-{k:02d}", draw(st.sampled_from([PAYER, PAYER, "OTHER"])),
                    D0 + timedelta(days=draw(st.integers(0, 150))), draw(amounts))
        for k in range(n_inv)
    ]
    lines: list[StatementLine] = []
    known: set[tuple[str, int, date]] = set()
    for no in range(1, draw(st.integers(0, 14)) + 1):
        booked = D0 + timedelta(days=draw(st.integers(0, 160)))
        kind = draw(st.sampled_from(["exact", "grouped", "partial", "duplicate", "amount", "noise", "known"]))
        ref, desc, amount = f"{no:03d}/SP2D", "", draw(amounts)
        if kind in ("exact", "partial") and invoices:
            target = draw(st.sampled_from(invoices))
            desc = f"bayar {target.reference.lower()}"
            amount = target.outstanding_rp if kind == "exact" else max(1, target.outstanding_rp - 50)
        elif kind == "grouped" and len(invoices) >= 2:
            picked = draw(st.lists(st.sampled_from(invoices), min_size=2, max_size=3, unique=True))
            desc = " ".join(i.reference for i in picked) if draw(st.booleans()) else ""
            amount = sum(i.outstanding_rp for i in picked)
        elif kind == "duplicate" and lines:
            prev = draw(st.sampled_from(lines))
            ref, amount, booked = prev.reference, prev.amount_rp, prev.booked_on
        elif kind == "amount":
            amount = draw(amounts)
        elif kind == "known":
            known.add((ref, amount, booked))
        lines.append(StatementLine(draw(st.sampled_from(["sA", "sB"])), no, ref, booked, amount, "1", desc, booked))
    return lines, invoices, known, draw(st.integers(0, 2**32))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_properties_and_oracle(case: tuple[list[StatementLine], list[OpenInvoice], set[tuple[str, int, date]], int]
                               ) -> None:
    lines, invoices, known, seed = case
    result = reconcile(lines, invoices, payer_id=PAYER, known_transfers=known)
    # every line exactly once, in matches or exceptions
    keys = [m.line.key for m in result.matches] + [e.line.key for e in result.exceptions]
    assert sorted(keys) == sorted(ln.key for ln in lines)
    # allocations: sum to the line, never exceed an invoice's outstanding, each invoice at most once
    outstanding = {i.invoice_id: i.outstanding_rp for i in invoices if i.payer_id == PAYER}
    used: list[str] = []
    for m in result.matches:
        assert sum(m.allocations_rp) == m.line.amount_rp
        assert all(0 < a <= outstanding[i] for i, a in zip(m.invoice_ids, m.allocations_rp, strict=True))
        used.extend(m.invoice_ids)
    assert len(used) == len(set(used))
    for e in result.exceptions:
        assert isinstance(e, Unreconciled) and e.reason
    # independent of the input order of invoices and of lines
    rng = random.Random(seed)
    shuffled_inv, shuffled_lines = invoices[:], lines[:]
    rng.shuffle(shuffled_inv)
    rng.shuffle(shuffled_lines)
    assert reconcile(shuffled_lines, shuffled_inv, payer_id=PAYER, known_transfers=known) == result
    # the indexed cascade agrees with the obvious one
    got = {m.line.key: (m.rule.value, m.invoice_ids) for m in result.matches}
    got.update({e.line.key: (e.kind.value, e.candidate_invoice_ids) for e in result.exceptions})
    assert got == oracle(lines, invoices, known)
    for kind, _ in got.values():
        event(kind)
