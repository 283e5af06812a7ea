"""Commands over HTTP: idempotency keys, refusals as problem documents that change nothing, concurrency, faults."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest

from commands.messages import RevokePrincipal
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import SimulatedClock
from eventstore.settings import Settings
from ledger.values import Role
from projections.chain_audit import verify
from tests.api_support import bearer, client, served
from tests.conftest import PG_URL, at, events_count, grant, nik, run
from tests.test_behaviour import AGREEMENT, enrol, sign
from tests.test_behaviour import pay as pay_one

SIGN_DAY = date(2025, 1, 2)
SIGN_BODY: dict[str, Any] = {
    "agreement_id": "SKW-HTTP-2025", "name": "Scheme over HTTP", "payer_id": "PEMKOT-SKW", "payer_type": "APBD_KOTA",
    "fund_source": "APBD", "region_code": "61.72", "first_period": "2025-01", "last_period": "2025-06",
    "budget_rp": 100_000_000, "effective_on": str(SIGN_DAY),
}
PROBLEM = "application/problem+json"


def refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """A problem document of ``status`` naming ``field``, with the request id the response header carries."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    assert body["status"] == status and body["reason"] and body["exit_code"] > 0
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


def test_same_key_and_body_replays_the_first_response_and_another_body_is_refused(ledger: Ledger) -> None:
    token = grant(ledger, "bo", Role.BUDGET_OWNER)
    api = client(ledger)
    headers = bearer(token, **{"Idempotency-Key": "sign-http-1"})
    first = api.post("/api/v1/agreements", json=SIGN_BODY, headers=headers)
    assert first.status_code == 201, first.text
    assert first.headers["Idempotency-Replayed"] == "false"
    written = events_count(ledger)
    again = api.post("/api/v1/agreements", json=SIGN_BODY, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotency-Replayed"] == "true"
    other = api.post("/api/v1/agreements", json={**SIGN_BODY, "name": "Another name"}, headers=headers)
    assert refused(other, 422, "command_id")["code"] == "idempotency_conflict"
    assert events_count(ledger) == written


@pytest.fixture
def api_ledger(memory_ledger: Ledger) -> Ledger:
    sign(memory_ledger)
    enrol(memory_ledger, 1)
    return memory_ledger


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "body"),
    (b'{"nik": "\xc3\x28", "periods": ["2025-01"]}', "body"),  # not UTF-8: not JSON either
    (b"[1, 2]", "body"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": "16800", "payment_reference": "R1"}', "amount_rp"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": 16800.5, "payment_reference": "R1"}', "amount_rp"),
    (b'{"nik": "%s", "periods": ["2025-13"], "amount_rp": 16800, "payment_reference": "R1"}', "periods"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": 16800, "payment_reference": "R1", "zzz": 1}', "zzz"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": 16800, "payment_reference": "R1", "actor": "x"}', "actor"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": 16800, "payment_reference": "R1", "kind": "sweep"}',
     "kind"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": 16800, "payment_reference": "R1", "command_id": "c"}',
     "command_id"),
    (b'{"nik": "%s", "periods": ["2025-01"], "payment_reference": "R1"}', "amount_rp"),
    (b'{"nik": "%s", "periods": ["2025-01"], "amount_rp": -1, "payment_reference": "R1"}', "amount_rp"),
    (b'{"nik": "12", "periods": ["2025-01"], "amount_rp": 16800, "payment_reference": "R1"}', "nik"),
])
def test_a_malformed_body_is_refused_naming_the_field_and_writes_nothing(api_ledger: Ledger, body: bytes,
                                                                          field: str) -> None:
    token = grant(api_ledger, "op", Role.OPERATOR)
    before = events_count(api_ledger)
    content = body.replace(b"%s", nik(1).encode()) if b"%s" in body else body
    response = client(api_ledger).post("/api/v1/contributions", content=content,
                                       headers=bearer(token, **{"content-type": "application/json"}))
    assert refused(response, 422, field)["code"] == "invalid_input"
    assert events_count(api_ledger) == before


def test_a_stranger_sending_a_body_that_is_not_utf8_hears_only_401(api_ledger: Ledger) -> None:
    response = client(api_ledger).post("/api/v1/contributions", content=b'{"nik": "\xc3\x28"}',
                                       headers={"content-type": "application/json"})
    refused(response, 401, "token")


def test_who_may_not_run_a_command_is_refused_before_anything_is_read_or_written(api_ledger: Ledger) -> None:
    right = grant(api_ledger, "op", Role.OPERATOR)
    revoked = grant(api_ledger, "op-gone", Role.OPERATOR)
    run(api_ledger, RevokePrincipal(name="op-gone", reason="left the office"), _admin())
    out_of_scope = grant(api_ledger, "op-ptk", Role.OPERATOR, scope="region:61.71")
    wrong_role = grant(api_ledger, "auditor", Role.AUDITOR)
    body = {"nik": nik(1), "periods": ["2025-01"], "amount_rp": 16_800, "payment_reference": "SP2D-1"}
    api = client(api_ledger)
    before = events_count(api_ledger)
    senders: list[tuple[dict[str, str], int, str]] = [
        ({}, 401, "token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "token"),
        (bearer(right[:-4] + "AAAA"), 401, "token"),
        (bearer("jst1.not-base64.x"), 401, "token"),
        (bearer(revoked), 401, "token"),
        (bearer(out_of_scope), 403, "principal"),
        (bearer(wrong_role), 403, "principal"),
    ]
    for headers, status, field in senders:
        problem = refused(api.post("/api/v1/contributions", json=body, headers=headers), status, field)
        assert problem["reason"] in ("unauthenticated", "forbidden")  # the precise reason is logged, not answered
        # a stranger learns nothing about the body either
        garbled = api.post("/api/v1/contributions", content=b"{oops", headers={**headers,
                                                                              "content-type": "application/json"})
        if status == 401:
            refused(garbled, 401, "token")
    assert events_count(api_ledger) == before
    ok = api.post("/api/v1/contributions", json=body, headers=bearer(right))
    assert ok.status_code == 200, ok.text


def _admin() -> Any:
    from commands.authorise import local_actor

    return local_actor()


def test_an_idempotency_key_is_bounded(api_ledger: Ledger) -> None:
    token = grant(api_ledger, "op", Role.OPERATOR)
    response = client(api_ledger).post("/api/v1/sweeps", json={}, headers=bearer(token, **{
        "Idempotency-Key": "k" * 129}))
    refused(response, 422, "Idempotency-Key")


def test_a_body_larger_than_the_limit_is_refused_with_413(api_ledger: Ledger) -> None:
    token = grant(api_ledger, "op", Role.OPERATOR)
    settings = Settings(store="memory://", http_body_max_bytes=4096)
    body = {"nik": nik(1), "periods": ["2025-01"], "amount_rp": 16_800, "payment_reference": "R" * 5000}
    before = events_count(api_ledger)
    response = client(api_ledger, settings).post("/api/v1/contributions", json=body, headers=bearer(token))
    assert refused(response, 413, "body")["code"] == "too_large"
    assert events_count(api_ledger) == before


def test_an_unexpected_error_is_a_500_with_only_the_request_id(api_ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    from commands import handlers

    def broken(*_: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setitem(handlers.HANDLERS, handlers.RecordWorkforce, broken)
    token = grant(api_ledger, "op", Role.OPERATOR)
    with caplog.at_level(logging.ERROR, logger="jamsos.http"):
        response = client(api_ledger).post("/api/v1/regions/61.72/workforce", headers=bearer(token),
                                           json={"workforce": 120_000, "source": "BPS Sakernas 2025"})
    problem = refused(response, 500, "request")
    assert "secret" not in response.text and problem["code"] == "internal_error"
    assert any(problem["request_id"] in r.getMessage() and r.exc_info for r in caplog.records)


def test_every_response_has_the_security_headers_and_cors_is_closed(api_ledger: Ledger) -> None:
    api = client(api_ledger)
    for response in (api.get("/healthz"), api.post("/api/v1/sweeps", json={}),
                     api.options("/api/v1/sweeps", headers={"Origin": "https://evil.example",
                                                            "Access-Control-Request-Method": "POST"})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "access-control-allow-origin" not in response.headers
    opened = client(api_ledger, Settings(store="memory://", http_cors_origins=("https://dashboard.example",)))
    preflight = opened.options("/api/v1/sweeps", headers={"Origin": "https://dashboard.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert preflight.headers["access-control-allow-origin"] == "https://dashboard.example"


def test_request_logs_carry_no_personal_data(memory_ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    sign(memory_ledger)
    token = grant(memory_ledger, "op", Role.OPERATOR)
    at(memory_ledger.clock, date(2025, 1, 6))  # type: ignore[arg-type]
    body = {"nik": nik(7), "name": "Siti Rahasia Aminah", "region_code": "61.72", "role": "PETANI",
            "agreement_id": AGREEMENT, "effective_on": "2025-01-06"}
    with caplog.at_level(logging.DEBUG):
        ok = client(memory_ledger).post("/api/v1/members", json=body, headers=bearer(token))
        bad = client(memory_ledger).post("/api/v1/members", json={**body, "birth_date": "x"}, headers=bearer(token))
    assert ok.status_code == 201 and bad.status_code == 422
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /api/v1/members 201" in logged
    assert nik(7) not in logged and "Rahasia" not in logged and token not in logged


# --- real server ----------------------------------------------------------------------------------------------

CLIENTS = 50


@pytest.mark.parametrize("grouped", [False, True], ids=["one-writer", "group-commit"])
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_fifty_clients_paying_the_same_member_month_one_succeeds(store: str, grouped: bool,
                                                                  request: pytest.FixtureRequest,
                                                                  tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Also with group commit and 16 commands deciding at once: still one success, and the chain verifies."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    url = str(tmp_path / "s.db") if store == "sqlite" else request.getfixturevalue("pg_schema_url")
    ledger = bootstrap(url, clock=SimulatedClock(_at_nine(SIGN_DAY)))
    try:
        sign(ledger)
        enrol(ledger, 1)
        enrol(ledger, 2)
        token = grant(ledger, "op", Role.OPERATOR)
        at(ledger.clock, date(2025, 1, 7))  # type: ignore[arg-type]
        before = events_count(ledger)
        results: list[httpx.Response] = []
        lock = threading.Lock()
        go = threading.Barrier(CLIENTS)
        settings = Settings(store="memory://", http_group_commit=grouped, http_writers_max=16 if grouped else 1)
        with served(ledger, settings) as base:
            def pay(i: int) -> None:
                with httpx.Client(base_url=base, timeout=60) as http:
                    go.wait()
                    response = http.post("/api/v1/contributions", headers=bearer(token), json={
                        "nik": nik(1), "periods": ["2025-01"], "amount_rp": 16_800,
                        "payment_reference": f"SP2D-{i}", "effective_on": "2025-01-07"})
                with lock:
                    results.append(response)

            threads = [threading.Thread(target=pay, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        statuses = sorted(r.status_code for r in results)
        assert 422 not in statuses, next(r.text for r in results if r.status_code == 422)
        assert 503 not in statuses, [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
        assert statuses == [200] + [409] * (CLIENTS - 1), statuses
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"already_done"}
        assert all("already paid" in r.json()["reason"] for r in results if r.status_code == 409)
        paid = [n.topic for n in ledger.store.select_notifications(before + 1, 1000)]
        head = events_count(ledger)
        pay_one(ledger, 2, ["2025-01"], 16_800, "SP2D-OTHER", on=date(2025, 1, 7))
        assert paid == [n.topic for n in ledger.store.select_notifications(head + 1, 1000)]  # one payment's events
        assert verify(ledger.store)["findings"] == []
    finally:
        ledger.close()


def _at_nine(day: date) -> Any:
    from datetime import datetime

    from eventstore.clock import WIB

    return datetime(day.year, day.month, day.day, 9, tzinfo=WIB)


@pytest.fixture
def own_database() -> Any:
    """A PostgreSQL database of its own (dropped afterwards): a test may end every connection to it without
    touching another test's."""
    from tests.conftest import require_postgres

    require_postgres()
    name = f"jamsos_fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}", name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
def test_the_store_going_away_mid_request_is_a_503_and_nothing_half_written(own_database: tuple[str, str],
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Any) -> None:
    url, database = own_database
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(url, clock=SimulatedClock(_at_nine(SIGN_DAY)))
    try:
        sign(ledger)
        enrol(ledger, 1)
        token = grant(ledger, "op", Role.OPERATOR)
        at(ledger.clock, date(2025, 1, 7))  # type: ignore[arg-type]
        before = events_count(ledger)
        store = ledger.store
        real_save = store.write_prepared  # what every save writes through (alone or in a group commit)

        def save_after_the_server_dropped_us(*aggregates: Any, **kw: Any) -> Any:
            with psycopg.connect(PG_URL, autocommit=True) as admin:  # every connection to the store's database
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                              (database,))
            return real_save(*aggregates, **kw)

        monkeypatch.setattr(store, "write_prepared", save_after_the_server_dropped_us)
        body = {"nik": nik(1), "periods": ["2025-01"], "amount_rp": 16_800, "payment_reference": "SP2D-X",
                "effective_on": "2025-01-07"}
        with served(ledger) as base:
            response = httpx.post(f"{base}/api/v1/contributions", json=body, headers=bearer(token), timeout=60)
            problem = refused(response, 503, "store")
            assert problem["code"] == "store_unavailable" and int(response.headers["Retry-After"]) > 0
            monkeypatch.setattr(store, "write_prepared", real_save)
            assert events_count(ledger) == before  # nothing half-written
            retried = httpx.post(f"{base}/api/v1/contributions", json=body, headers=bearer(token), timeout=60)
        assert retried.status_code == 200, retried.text
        assert events_count(ledger) > before
    finally:
        ledger.close()


def test_an_expired_token_no_longer_authenticates(memory_ledger: Ledger) -> None:
    from datetime import timedelta

    from commands.authorise import new_token
    from commands.messages import AddPrincipal

    clock = memory_ledger.clock
    assert isinstance(clock, SimulatedClock)
    today = clock.now().astimezone(_wib()).date()
    token, digest = new_token("op-temp")
    run(memory_ledger, AddPrincipal(name="op-temp", roles=[Role.OPERATOR], token_sha256=digest,
                                    token_expires_on=today + timedelta(days=1)), _admin())
    api = client(memory_ledger)
    assert api.post("/api/v1/sweeps", json={}, headers=bearer(token)).status_code == 200
    at(clock, today + timedelta(days=1))
    assert api.post("/api/v1/sweeps", json={}, headers=bearer(token)).status_code == 200  # its last day
    at(clock, today + timedelta(days=2))
    before = events_count(memory_ledger)
    refused(api.post("/api/v1/sweeps", json={}, headers=bearer(token)), 401, "token")
    assert events_count(memory_ledger) == before
    rotated = api.post("/api/v1/principals/op-temp/token", json={"token_expires_on": str(today - timedelta(days=1))},
                       headers=bearer(grant(memory_ledger, "adm", Role.ADMIN)))
    refused(rotated, 422, "token_expires_on")


def _wib() -> Any:
    from eventstore.clock import WIB

    return WIB


def test_an_id_holding_a_slash_is_addressed_percent_encoded_over_a_real_server(memory_ledger: Ledger) -> None:
    """An agreement id may hold ``/`` (``PKS/2026/01``); the client sends it as ``%2F``, which the server decodes
    before routing: the route still takes it whole. A bare ``/`` is an id like any other unknown one (not 405)."""
    code = "PKS/2026/01"
    sign(memory_ledger, code)
    token = grant(memory_ledger, "bo", Role.BUDGET_OWNER)
    admin = grant(memory_ledger, "root", Role.ADMIN)
    with served(memory_ledger) as base, httpx.Client(base_url=base, timeout=10) as http:
        amended = http.post("/api/v1/agreements/PKS%2F2026%2F01/budget-amendments", headers=bearer(token),
                            json={"budget_rp": 90_000_000, "reason": "APBD-P", "effective_on": "2025-01-02"})
        assert amended.status_code == 200, amended.text
        shown = http.get("/api/v1/agreements/PKS%2F2026%2F01", headers=bearer(admin))
        assert shown.status_code == 200, shown.text
        assert shown.json()["agreement_id"] == code
        assert shown.json()["budget_rp"] == 90_000_000
        refused(http.get("/api/v1/agreements/%2F", headers=bearer(admin)), 404, "agreement_id")
