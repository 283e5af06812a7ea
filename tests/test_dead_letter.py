"""Dead letters keep the reason and the non-personal fields of a refused command, never personal data or tokens
(docs/rules.md#dead-letters), through the unit consumer (no broker)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cli.seed_demo import synthetic_nik
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.values import Role
from services.command_consumer import process
from services.dead_letter import REDACTED, redact_body, safe_headers
from tests.conftest import grant

NIK = synthetic_nik("6172", 77)
NIK_2 = synthetic_nik("6172", 78)
PERSONAL = [NIK, NIK_2, "Siti Rahasia Aminah", "Jl. Rahasia No. 9", "081234567890", "1990-04-13",
            "Ahmad Ahli Waris", "2001-02-03"]
TOKEN = "jms_s3cr3t-t0ken-value"


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap("memory://", clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))
    yield ledger
    ledger.close()


ENROL = {"kind": "member.enrol", "command_id": "dl-enrol", "effective_on": "2026-01-05", "nik": NIK,
         "name": "Siti Rahasia Aminah", "address": "Jl. Rahasia No. 9", "phone": "081234567890",
         "birth_date": "1990-04-13", "agreement_id": "PKS-NONE", "region_code": "61.72", "role": "PETANI"}
CLAIM = {"kind": "claim.submit", "command_id": "dl-claim", "effective_on": "2026-01-05", "nik": NIK,
         "claim_id": "C-DL", "claim_type": "JKM_DEATH", "event_date": "2026-01-04", "heir_name": "Ahmad Ahli Waris"}
IMPORT = {"kind": "member.import", "command_id": "dl-import", "agreement_id": "PKS-NONE", "region_code": "61.72",
          "rows": [[2, {"nik": NIK, "name": "Siti Rahasia Aminah", "birth_date": "1990-04-13",
                        "address": "Jl. Rahasia No. 9", "village_code": "61.72.01.1001", "role": "PETANI"}],
                   [3, {"nik": NIK_2, "name": "Ahmad Ahli Waris", "birth_date": "2001-02-03", "role": "NELAYAN"}]],
          "invalid_rows": [[4, "name", f"Siti Rahasia Aminah: NIK {NIK} twice"]]}
PAY = {"kind": "contribution.pay", "command_id": "dl-pay", "effective_on": "2026-01-05", "nik": NIK,
       "periods": ["2026-01"], "amount_rp": 16_800, "payment_reference": f"SP2D-{NIK}"}


def _stored(dead: Any) -> bytes:
    """Every byte the dead letter would put on the broker."""
    return dead.model_dump_json().encode() + base64.b64decode(dead.body_b64)


@pytest.mark.parametrize("body", [ENROL, CLAIM, IMPORT, PAY, {**ENROL, "kind": "member.unknown"},
                                  {**ENROL, "nama": "Siti Rahasia Aminah", "command_id": "dl-typo"}],
                         ids=["enrol", "claim", "import", "pay", "unknown-kind", "unknown-field"])
def test_a_refused_command_is_dead_lettered_without_personal_data_or_token(ledger: Ledger, body: dict[str, Any]
                                                                          ) -> None:
    raw = json.dumps(body).encode()
    token = grant(ledger, "dl-operator", Role.OPERATOR)
    head = ledger.store.max_notification_id()
    reply, dead = process(ledger, raw, headers={"authorization": f"Bearer {token}", "x-jamsos-token": token,
                                                 "correlation_id": "c-1"})
    assert not reply.ok and dead is not None, "refused (the agreement does not exist, or the body is wrong)"
    stored = _stored(dead)
    for value in PERSONAL:
        assert value.encode() not in stored, f"{value!r} is in the dead letter"
    assert token.encode() not in stored and token.split(".")[-1].encode() not in stored
    assert dead.headers == {"correlation_id": "c-1"}
    kept = json.loads(dead.body_text or "")
    assert kept["command_id"] == body["command_id"] and kept["kind"] == body["kind"]  # the envelope stays
    assert dead.error == reply.error and dead.error.reason and dead.body_bytes == len(raw)
    assert ledger.store.max_notification_id() == head


def test_redaction_keeps_the_non_personal_fields() -> None:
    kept = json.loads(redact_body(json.dumps(IMPORT).encode())["body_text"])
    assert kept["agreement_id"] == "PKS-NONE" and kept["region_code"] == "61.72"
    assert kept["rows"][0] == [2, {"nik": REDACTED, "name": REDACTED, "birth_date": REDACTED,
                                   "address": REDACTED, "village_code": "61.72.01.1001", "role": "PETANI"}]
    assert kept["rows"][1][1]["role"] == "NELAYAN" and kept["rows"][1][1]["nik"] == REDACTED
    assert kept["invalid_rows"] == [[4, "name", REDACTED]]
    pay = redact_body(json.dumps(PAY).encode())
    assert json.loads(pay["body_text"])["amount_rp"] == 16_800 and json.loads(pay["body_text"])["periods"] == [
        "2026-01"]
    assert json.loads(pay["body_text"])["payment_reference"] == "SP2D-[redacted-nik]"  # a NIK in free text
    assert set(pay["redacted"]) == {"nik"}


@pytest.mark.parametrize("raw", [f'{{"nik": "{NIK}", "name": "Siti Rahasia Aminah"'.encode(),
                                 f"nik={NIK}&name=Siti Rahasia Aminah".encode(), b"\xff\xfe" + NIK.encode(),
                                 json.dumps([NIK, "Siti Rahasia Aminah"]).encode()],
                         ids=["truncated-json", "form", "binary", "json-array"])
def test_a_body_that_is_not_a_json_object_keeps_only_its_length_and_digest(ledger: Ledger, raw: bytes) -> None:
    reply, dead = process(ledger, raw, headers={"authorization": f"Bearer {grant(ledger, 'dl-op', Role.OPERATOR)}"})
    assert dead is not None and not reply.ok and reply.error is not None and reply.error.field == "body"
    assert dead.body_b64 == "" and dead.body_text is None
    assert (dead.body_bytes, dead.body_sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    stored = _stored(dead)
    assert NIK.encode() not in stored and b"Rahasia" not in stored


def test_credential_headers_are_dropped() -> None:
    headers = {"Authorization": "Bearer x", "X-Jamsos-Token": "t", "token": "t", "Cookie": "c", "api_key": "k",
               "reply_to": "q", "content-type": "application/json"}
    assert safe_headers(headers) == {"reply_to": "q", "content-type": "application/json"}
