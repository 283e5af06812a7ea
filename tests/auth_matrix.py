"""Every command kind, sent by six senders: no token, a wrong token, a revoked one, an out-of-scope one, the wrong
role, and the right one. Only the last may reach a handler (docs/rules.md#principals). Shared by the unit test
(``services.command_consumer.process``) and the real-broker tests (RabbitMQ, NATS)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from cli.seed_demo import synthetic_nik
from commands.authorise import COMMAND_ROLES, local_actor, new_token, role_for
from commands.messages import EnrolMember, PayContribution, RevokePrincipal, SignAgreement, SubmitClaim
from commands.passwords import hash_password
from eventstore.bootstrap import Ledger
from ledger.values import ClaimType, FundSource, PayerType, Role
from tests.api_requests import PASSWORD
from tests.conftest import execute, grant

DAY = date(2026, 1, 5)
NIKS = [synthetic_nik("6172", 900 + i) for i in range(6)]
SECRET_NAME = "Nama Sangat Rahasia"
VARIANTS = ("no-token", "wrong-token", "revoked", "out-of-scope", "wrong-role", "right")


@dataclass
class Matrix:
    """Tokens per (role, variant) and the message bodies per command kind."""

    tokens: dict[tuple[Role, str], str | None]
    bodies: dict[str, dict[str, Any]]

    def headers(self, kind: str, variant: str) -> dict[str, str]:
        token = self.tokens[(role_for(kind), variant)]
        return {} if token is None else {"authorization": f"Bearer {token}"}


def prepare(ledger: Ledger) -> Matrix:
    """An agreement of payer PEMKOT-M with a member and a submitted claim, and the senders of each role."""
    execute(ledger, SignAgreement(agreement_id="PKS-M", name="Matrix", payer_id="PEMKOT-M",
                                  payer_type=PayerType.APBD_KOTA, fund_source=FundSource.APBD, region_code="61.72",
                                  first_period="2026-01", last_period="2026-12", budget_rp=100_000_000,
                                  effective_on=DAY))
    for nik in NIKS[:3]:
        execute(ledger, EnrolMember(nik=nik, name=SECRET_NAME, agreement_id="PKS-M", region_code="61.72",
                                    role="PETANI", effective_on=DAY))
    execute(ledger, PayContribution(nik=NIKS[0], periods=["2026-01"], amount_rp=16_800, payment_reference="SP2D-M-0",
                                    effective_on=DAY))
    execute(ledger, SubmitClaim(nik=NIKS[0], claim_id="C-M1", claim_type=ClaimType.JKK_MEDICAL,
                                event_date=DAY, medical_cost_rp=100_000, effective_on=DAY))
    tokens: dict[tuple[Role, str], str | None] = {}
    for role in Role:
        slug = role.value
        tokens[(role, "no-token")] = None
        right = grant(ledger, f"m-{slug}", role)
        tokens[(role, "right")] = right
        tokens[(role, "wrong-token")] = right[:-6] + ("AAAAAA" if not right.endswith("AAAAAA") else "BBBBBB")
        tokens[(role, "revoked")] = grant(ledger, f"r-{slug}", role)
        execute(ledger, RevokePrincipal(name=f"r-{slug}", reason="left the office"), local_actor())
        tokens[(role, "out-of-scope")] = grant(ledger, f"x-{slug}", role, scope="payer:PEMKOT-OTHER")
        other = Role.AUDITOR if role is not Role.AUDITOR else Role.OPERATOR
        tokens[(role, "wrong-role")] = grant(ledger, f"w-{slug}", other)
    return Matrix(tokens, bodies())


def bodies() -> dict[str, dict[str, Any]]:
    """A well-formed body for every command kind (a command id per kind; the dates are the matrix day)."""
    on = DAY.isoformat()
    statement_id = hashlib.sha256(b"matrix statement").hexdigest()
    out: dict[str, dict[str, Any]] = {
        "agreement.sign": {"agreement_id": "PKS-M2", "name": "Matrix 2", "payer_id": "PEMKOT-M",
                           "payer_type": "APBD_KOTA", "fund_source": "APBD", "region_code": "61.72",
                           "first_period": "2026-01", "last_period": "2026-12", "budget_rp": 10_000_000},
        "agreement.amend_budget": {"agreement_id": "PKS-M", "budget_rp": 101_000_000, "reason": "APBD-P"},
        "agreement.confirm_budget": {"agreement_id": "PKS-M", "budget_rp": 101_000_000},
        "member.enrol": {"nik": NIKS[3], "name": SECRET_NAME, "agreement_id": "PKS-M", "region_code": "61.72",
                         "role": "NELAYAN"},
        "member.import": {"agreement_id": "PKS-M",
                          "rows": [[2, {"nik": NIKS[4], "name": SECRET_NAME, "role": "PETANI"}]]},
        "member.change_payer": {"nik": NIKS[2], "from_period": "2026-03"},
        "member.carry_in_jht": {"nik": NIKS[1], "amount_rp": 1_000_000, "source": "earlier membership"},
        "member.reveal": {"nik": NIKS[1], "purpose": "verifikasi ahli waris"},
        "contribution.pay": {"nik": NIKS[1], "periods": ["2026-01"], "amount_rp": 16_800,
                             "payment_reference": "SP2D-M-1"},
        "contribution.pay_cohort": {"agreement_id": "PKS-M", "periods": ["2026-02"], "amount_rp": 16_800 * 4,
                                    "payment_reference": "SP2D-M-2"},
        "claim.submit": {"nik": NIKS[1], "claim_id": "C-M2", "claim_type": "JKK_MEDICAL", "event_date": on,
                         "medical_cost_rp": 50_000},
        "claim.approve": {"claim_id": "C-M1"},
        "claim.reject": {"claim_id": "C-M2", "reason_code": "CHECK", "reason": "documents missing"},
        "claim.pay": {"claim_id": "C-M1", "payment_reference": "PAYOUT-M-1"},
        "region.workforce": {"region_code": "61.72", "workforce": 100_000, "source": "BPS"},
        "sweep": {},
        "billing.bill": {"agreement_id": "PKS-M", "period": "2026-01"},
        "reconcile.import": {"payer_id": "PEMKOT-M", "statement_id": statement_id, "file_name": "m.csv",
                             "file_format": "csv", "period_start": on, "period_end": on,
                             "lines": [{"line_no": 1, "reference": "SP2D-X", "booked_on": on, "amount_rp": 5}]},
        "reconcile.run": {"payer_id": "PEMKOT-M"},
        "reconcile.resolve": {"statement_id": statement_id, "line_no": 1, "action": "SUSPENSE",
                              "note": "ask the payer"},
        "refund.settle": {"claim_ref": "C-M1", "payer_id": "PEMKOT-M", "amount_rp": 16_800,
                          "payment_reference": "RF-M-1"},
        "principal.add": {"name": "new-operator", "roles": ["operator"], "token_sha256": new_token("new-operator")[1]},
        "principal.rotate_token": {"name": "m-auditor", "token_sha256": "0" * 64},
        "principal.set_password": {"name": "m-auditor", "password_argon2": hash_password(PASSWORD, "m-auditor")},
        "principal.revoke": {"name": "w-operator", "reason": "moved"},
        "member.forget": {"nik": NIKS[2], "reason": "data subject request"},
    }
    assert set(out) == set(COMMAND_ROLES), "a body for every command kind"
    return {kind: {"kind": kind, "command_id": f"matrix-{kind}", "effective_on": on, **body}
            for kind, body in out.items()}


REFUSED_CODE = {"no-token": "unauthenticated", "wrong-token": "unauthenticated", "revoked": "unauthenticated",
                "out-of-scope": "forbidden", "wrong-role": "forbidden"}


def check_reply(reply: dict[str, Any], variant: str, kind: str) -> None:
    """A refused sender hears only ``unauthenticated`` / ``forbidden``; the right one reaches the handler."""
    error = reply.get("error")
    if variant == "right":
        assert error is None or error["code"] not in ("unauthenticated", "forbidden"), (kind, reply)
        return
    assert reply["ok"] is False and error is not None, (kind, variant, reply)
    assert error["code"] == REFUSED_CODE[variant] and error["reason"] == error["code"], (kind, variant, reply)


def check_dead_letter(dead: dict[str, Any] | str, tokens: list[str]) -> None:
    """A dead letter keeps the reason, never a token (nor the header that carried it)."""
    text = dead if isinstance(dead, str) else json.dumps(dead)
    assert "authorization" not in text.lower()
    for token in tokens:
        assert token.split(".")[-1] not in text, "a token reached a dead letter"


def order(kinds: list[str]) -> list[str]:
    """Kinds in an order where each right sender meets the state it needs (forget and revocations last)."""
    late = ["claim.approve", "claim.pay", "refund.settle", "principal.rotate_token", "principal.revoke",
            "member.forget"]
    return [k for k in kinds if k not in late] + late
