"""The HTTP routes that take a file or run long: cohort import and payment as jobs, the quote, statement upload,
the job resource (progress, resuming an interrupted job, who sees it), upload names and sizes over a real uvicorn.
"""

from __future__ import annotations

import resource
import select
import socket
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import uploads
from api.jobs import JobPool
from commands.bulk import bulk_runs
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import SimulatedClock
from eventstore.settings import Settings
from ledger.values import Role
from projections.reports import build_report
from tests.api_support import bearer, client, served
from tests.conftest import events_count, grant, nik
from tests.test_behaviour import AGREEMENT, sign

IMPORT_URL = "/api/v1/members/imports"
PAY_URL = "/api/v1/contributions/cohort-payments"
QUOTE_URL = "/api/v1/contributions/quotes"
STATEMENT_URL = "/api/v1/statements"
HEADER = "nik,name,birth_date,address,village_code,role,declared_income_rp"
ON = date(2025, 1, 6)
PAID_ON = date(2025, 1, 7)
PAYER = "PEMKOT-SKW"
JOB_WAIT_S = 30.0
BATCH = 25
MEMBERS = 120
FINISHED = ("succeeded", "failed", "interrupted")


def cohort_csv(n: int, first: int = 0, bad_line: int | None = None) -> bytes:
    """``n`` good rows from line 2; ``bad_line`` (if given) carries a NIK that is too short."""
    lines = [HEADER]
    for k in range(n):
        line = k + 2
        number = "12345" if line == bad_line else nik(first + k)
        lines.append(f"{number},Pekerja {first + k},,Jl. Pasar {k},61.72.01.2001,"
                     f"{'PETANI' if k % 2 else 'NELAYAN'},")
    return ("\n".join(lines) + "\n").encode()


def statement_csv(amounts: list[int]) -> bytes:
    rows = "\n".join(f"{9000 + i:05d}/SP2D/LS/2025,2025-01-0{2 + i},{amount},1234567890,iuran Januari"
                     for i, amount in enumerate(amounts))
    return (f"# period: 2025-01-01..2025-01-05\n# account: 1234567890\nsp2d_number,date,amount,account,"
            f"description\n{rows}\n").encode()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store, its key file shared by every ledger of the test (the same member ids for the same NIKs)."""
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "shared.key"))
    monkeypatch.setattr(uploads, "UPLOAD_TMP_DIR", str(_upload_root(tmp_path)))
    return f"sqlite:///{tmp_path / 'api.db'}"


def _upload_root(tmp_path: Path) -> Path:
    root = tmp_path / "uploads"
    root.mkdir(exist_ok=True)
    return root


def _open(url: str, clock: SimulatedClock) -> Ledger:
    ledger = bootstrap(url, clock=clock)
    ledger.batch_size = BATCH
    return ledger


@pytest.fixture
def signed(store: str, clock: SimulatedClock) -> Iterator[Ledger]:
    """The agreement signed; the clock on the import day."""
    ledger = _open(store, clock)
    sign(ledger)
    clock.set_day(ON)
    yield ledger
    ledger.close()


@pytest.fixture
def tokens(signed: Ledger) -> dict[Role, str]:
    return {role: grant(signed, f"http-{role.value}", role) for role in Role}


@pytest.fixture
def api(signed: Ledger) -> TestClient:
    return client(signed)


def post_import(api: TestClient, token: str, data: bytes, name: str = "cohort.csv", key: str | None = None,
                **fields: Any) -> Any:
    form = {"agreement_id": AGREEMENT, "effective_on": ON.isoformat(), **fields}
    headers = bearer(token, **({"Idempotency-Key": key} if key else {}))
    return api.post(IMPORT_URL, headers=headers, data=form, files={"file": (name, data, "text/csv")})


def wait_job(api: TestClient, token: str, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        got = api.get(location, headers=bearer(token))
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        if body["state"] in FINISHED:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def imported(api: TestClient, token: str, data: bytes, **kw: Any) -> dict[str, Any]:
    sent = post_import(api, token, data, **kw)
    assert sent.status_code == 202, sent.text[:500]
    assert sent.headers["location"] == f"/api/v1/jobs/{sent.json()['id']}"
    return wait_job(api, token, sent.headers["location"])


def members_report(ledger: Ledger) -> Any:
    """The members report (``jamsos report members``) less when and at which log position it was made."""
    report = build_report(ledger.store, "members", ON, None, ledger.clock.now(), AGREEMENT)
    return {k: v for k, v in report.items() if k not in ("position", "generated_at")}


def enrolled(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.store.snapshots_of_kind("Member", cohort=AGREEMENT))


# --- cohort import ----------------------------------------------------------------------------------


def test_import_over_http_is_the_cli_import(signed: Ledger, api: TestClient, tokens: dict[Role, str],
                                            tmp_path: Path, clock: SimulatedClock,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    data = cohort_csv(MEMBERS)
    job = imported(api, tokens[Role.OPERATOR], data)
    assert job["state"] == "succeeded", job
    assert job["kind"] == "member.import" and job["file"] == "cohort.csv"
    assert job["result"]["imported"] == MEMBERS
    assert job["members_done"] == job["members_total"] == MEMBERS

    cli_url = f"sqlite:///{tmp_path / 'cli.db'}"
    other = _open(cli_url, SimulatedClock(clock.now()))
    sign(other)
    other.close()
    monkeypatch.setenv("JAMSOS_CLOCK", clock.now().isoformat())
    (tmp_path / "cohort.csv").write_bytes(data)
    import cli.app  # noqa: F401  (registers every verb)
    from cli.root import app as cli_app

    ran = CliRunner().invoke(cli_app, ["member", "import", str(tmp_path / "cohort.csv"), "--agreement", AGREEMENT,
                                       "--on", ON.isoformat(), "--store", cli_url, "--json"])
    assert ran.exit_code == 0, ran.output
    other = _open(cli_url, SimulatedClock(clock.now()))
    try:
        assert members_report(other) == members_report(signed)
        assert {r.aggregate_id for r in other.store.snapshots_of_kind("Member", cohort=AGREEMENT)} == \
            {r.aggregate_id for r in signed.store.snapshots_of_kind("Member", cohort=AGREEMENT)}
    finally:
        other.close()


def test_a_bad_line_7_refuses_the_file_at_once_and_writes_nothing(signed: Ledger, api: TestClient,
                                                                  tokens: dict[Role, str]) -> None:
    before = events_count(signed)
    sent = post_import(api, tokens[Role.OPERATOR], cohort_csv(10, bad_line=7))
    assert sent.status_code == 422, sent.text
    problem = sent.json()
    assert problem["field"] == "rows" and "nothing imported" in problem["reason"]
    assert [e.split(":")[0] for e in problem["errors"]] == ["line 7"]
    assert problem["errors"][0].startswith("line 7: nik: ")
    assert events_count(signed) == before
    assert list(Path(str(uploads.UPLOAD_TMP_DIR)).iterdir()) == []


def test_a_row_refused_by_the_store_is_found_before_the_job_too(signed: Ledger, api: TestClient,
                                                                 tokens: dict[Role, str]) -> None:
    assert imported(api, tokens[Role.OPERATOR], cohort_csv(3))["state"] == "succeeded"
    before = events_count(signed)
    again = post_import(api, tokens[Role.OPERATOR], cohort_csv(5))  # lines 2-4 already enrolled
    assert again.status_code == 422, again.text
    assert [e.split(":")[0] for e in again.json()["errors"]] == ["line 2", "line 3", "line 4"]
    assert events_count(signed) == before


def test_skip_invalid_imports_the_good_rows_and_lists_the_rejected(signed: Ledger, api: TestClient,
                                                                   tokens: dict[Role, str]) -> None:
    job = imported(api, tokens[Role.OPERATOR], cohort_csv(10, bad_line=7), skip_invalid="true")
    assert job["state"] == "succeeded", job
    assert job["result"]["imported"] == 9
    assert [r["line"] for r in job["result"]["rejected"]] == [7]
    assert enrolled(signed) == 9


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.csv", "..\\x.csv", "..", "cohort.exe"])
def test_a_file_name_that_is_not_a_plain_name_is_refused(signed: Ledger, api: TestClient, tokens: dict[Role, str],
                                                         tmp_path: Path, name: str) -> None:
    before = events_count(signed)
    files_before = sorted(p for p in tmp_path.rglob("*") if "uploads" not in p.parts)
    sent = post_import(api, tokens[Role.OPERATOR], cohort_csv(3), name=name)
    assert sent.status_code == 422, sent.text
    assert sent.json()["field"] == "file"
    assert events_count(signed) == before
    assert sorted(p for p in tmp_path.rglob("*") if "uploads" not in p.parts and not p.name.startswith("api.")) \
        == [p for p in files_before if not p.name.startswith("api.")]
    assert list((tmp_path / "uploads").iterdir()) == []
    assert not (tmp_path.parent / "etc" / "passwd").exists()


def test_an_unreadable_file_is_named_by_its_label_not_the_server_file(signed: Ledger, api: TestClient,
                                                                      tokens: dict[Role, str]) -> None:
    sent = post_import(api, tokens[Role.OPERATOR], b"\xff\xfe not utf-8", name="januari.csv")
    assert sent.status_code == 422, sent.text
    assert sent.json()["field"] == "file" and "januari.csv" in sent.json()["reason"]
    assert "upload" not in sent.json()["reason"]


def test_the_same_key_returns_the_same_job_and_another_body_is_refused(signed: Ledger, api: TestClient,
                                                                       tokens: dict[Role, str]) -> None:
    token = tokens[Role.OPERATOR]
    first = imported(api, token, cohort_csv(5), key="imp-1")
    assert first["id"] == "imp-1" and first["state"] == "succeeded"
    written = events_count(signed)
    again = post_import(api, token, cohort_csv(5), key="imp-1")
    assert again.status_code == 202 and again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == "imp-1" and again.json()["result"] == first["result"]
    assert events_count(signed) == written
    other = post_import(api, token, cohort_csv(6), key="imp-1")
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "idempotency_conflict"
    assert events_count(signed) == written
    # after a restart the store answers for it: the recorded result, no second run
    fresh = client(signed)
    assert fresh.get("/api/v1/jobs/imp-1", headers=bearer(token)).json()["state"] == "succeeded"
    replay = post_import(fresh, token, cohort_csv(5), key="imp-1")
    assert replay.status_code == 202 and replay.json()["state"] == "succeeded"
    assert events_count(signed) == written


# --- interrupted and resumed --------------------------------------------------------------------------


class DiskGone(Exception):
    pass


def test_an_interrupted_import_is_reported_from_the_store_and_resumed_by_the_same_key(
        signed: Ledger, api: TestClient, tokens: dict[Role, str], tmp_path: Path, clock: SimulatedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens[Role.OPERATOR]
    data = cohort_csv(MEMBERS)
    real_write = signed.store.write_rows
    calls = {"n": 0}

    def failing(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 2:
            raise DiskGone("the disk went away")
        return real_write(*args, **kw)

    monkeypatch.setattr(signed.store, "write_rows", failing)
    stopped = imported(api, token, data, key="imp-int")
    assert stopped["state"] == "interrupted", stopped
    assert (stopped["members_done"], stopped["members_total"]) == (2 * BATCH, MEMBERS)
    assert "Idempotency-Key" in stopped["resume"]
    monkeypatch.setattr(signed.store, "write_rows", real_write)

    restarted = client(signed)  # a new process: the job is not in memory, the run is in the store
    shown = restarted.get("/api/v1/jobs/imp-int", headers=bearer(token)).json()
    assert shown["state"] == "interrupted" and (shown["members_done"], shown["members_total"]) == (2 * BATCH, MEMBERS)
    assert [r["members_done"] for r in bulk_runs(signed)] == [2 * BATCH]

    done = imported(restarted, token, data, key="imp-int")
    assert done["state"] == "succeeded", done
    assert done["result"]["resumed"] == 2 * BATCH and done["result"]["imported"] == MEMBERS - 2 * BATCH
    assert done["members_done"] == done["members_total"] == MEMBERS

    whole_url = f"sqlite:///{tmp_path / 'whole.db'}"
    whole = _open(whole_url, SimulatedClock(clock.now()))
    try:
        sign(whole)
        whole.clock.set_day(ON)  # type: ignore[attr-defined]
        assert imported(client(whole), grant(whole, "op", Role.OPERATOR), data)["state"] == "succeeded"
        assert members_report(whole) == members_report(signed)
        assert enrolled(whole) == enrolled(signed) == MEMBERS
    finally:
        whole.close()


# --- cohort payment and quote ---------------------------------------------------------------------------


def test_cohort_payment_job_reports_progress_to_the_end(signed: Ledger, api: TestClient, tokens: dict[Role, str],
                                                        clock: SimulatedClock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens[Role.OPERATOR]
    assert imported(api, token, cohort_csv(MEMBERS))["state"] == "succeeded"
    clock.set_day(PAID_ON)
    quote = api.post(QUOTE_URL, headers=bearer(tokens[Role.FINANCE]),
                     json={"agreement_id": AGREEMENT, "periods": ["2025-01"], "effective_on": PAID_ON.isoformat()})
    assert quote.status_code == 200, quote.text
    assert quote.json()["members_payable"] == MEMBERS
    seen: list[tuple[int, int]] = []
    real_update = JobPool._update

    def spy(self: JobPool, job: Any, ledger: Ledger, **changes: Any) -> None:
        if "members_done" in changes and job.kind == "contribution.pay_cohort":
            seen.append((changes["members_done"], changes["members_total"]))
        real_update(self, job, ledger, **changes)

    monkeypatch.setattr(JobPool, "_update", spy)
    body = {"agreement_id": AGREEMENT, "periods": ["2025-01"], "amount_rp": quote.json()["amount_rp"],
            "payment_reference": "SP2D-HTTP-1", "effective_on": PAID_ON.isoformat()}
    wrong = api.post(PAY_URL, headers=bearer(token), json={**body, "amount_rp": body["amount_rp"] - 1})
    assert wrong.status_code == 422 and wrong.json()["field"] == "amount_rp", wrong.text
    before = events_count(signed)
    sent = api.post(PAY_URL, headers=bearer(token, **{"Idempotency-Key": "pay-1"}), json=body)
    assert sent.status_code == 202, sent.text
    assert sent.json()["members_total"] == MEMBERS
    job = wait_job(api, token, sent.headers["location"])
    assert job["state"] == "succeeded", job
    assert job["members_done"] == job["members_total"] == MEMBERS
    assert job["result"]["members_paid"] == MEMBERS
    assert seen == [(k, MEMBERS) for k in range(0, MEMBERS + 1, BATCH)] + \
        ([(MEMBERS, MEMBERS)] if MEMBERS % BATCH else [])
    written = events_count(signed)
    assert written > before
    again = api.post(PAY_URL, headers=bearer(token, **{"Idempotency-Key": "pay-1"}), json=body)
    assert again.status_code == 202 and again.json()["id"] == "pay-1"
    assert events_count(signed) == written
    other = api.post(PAY_URL, headers=bearer(token, **{"Idempotency-Key": "pay-1"}),
                     json={**body, "payment_reference": "SP2D-HTTP-2"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_conflict", other.text
    assert events_count(signed) == written


# --- statements ---------------------------------------------------------------------------------------------


def post_statement(api: TestClient, token: str, data: bytes, name: str = "rekening.csv", **fields: Any) -> Any:
    return api.post(STATEMENT_URL, headers=bearer(token), data={"payer_id": PAYER, **fields},
                    files={"file": (name, data, "text/csv")})


def test_a_statement_upload_records_it_once(signed: Ledger, api: TestClient, tokens: dict[Role, str]) -> None:
    token = tokens[Role.FINANCE]
    data = statement_csv([16_800, 33_600])
    sent = post_statement(api, token, data)
    assert sent.status_code == 201, sent.text
    summary = sent.json()
    assert (summary["imported"], summary["lines"], summary["total_rp"]) == (1, 2, 50_400)
    assert summary["file"] == "rekening.csv" and summary["failure"] is None
    before = events_count(signed)
    again = post_statement(api, token, data, name="lagi.csv")
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "already_done" and again.json()["field"] == "file"
    assert events_count(signed) == before
    assert post_statement(api, token, data, name="../rekening.csv").status_code == 422


# --- roles and scope ----------------------------------------------------------------------------------------


def test_roles_and_scope(signed: Ledger, api: TestClient, tokens: dict[Role, str]) -> None:
    pontianak = grant(signed, "op-ptk", Role.OPERATOR, scope="region:61.71")
    pontianak_finance = grant(signed, "fin-ptk", Role.FINANCE, scope="region:61.71")
    before = events_count(signed)
    for role in Role:
        if role not in (Role.OPERATOR, Role.ADMIN):
            got = post_import(api, tokens[role], cohort_csv(3))
            assert got.status_code == 403, (role, got.text)
        if role not in (Role.FINANCE, Role.ADMIN):
            got = post_statement(api, tokens[role], statement_csv([16_800]))
            assert got.status_code == 403, (role, got.text)
    assert api.post(IMPORT_URL, files={"file": ("c.csv", cohort_csv(3), "text/csv")}).status_code == 401
    outside = post_import(api, pontianak, cohort_csv(3))
    assert outside.status_code == 403, outside.text
    assert post_statement(api, pontianak_finance, statement_csv([16_800])).status_code == 403
    assert api.post(PAY_URL, headers=bearer(pontianak), json={
        "agreement_id": AGREEMENT, "periods": ["2025-01"], "amount_rp": 16_800, "payment_reference": "X-1",
    }).status_code == 403
    assert events_count(signed) == before


def test_a_job_is_seen_by_its_principal_and_by_admin_or_auditor_only(signed: Ledger, api: TestClient,
                                                                     tokens: dict[Role, str]) -> None:
    job = imported(api, tokens[Role.OPERATOR], cohort_csv(3), key="mine")
    location = f"/api/v1/jobs/{job['id']}"
    other_operator = grant(signed, "op-2", Role.OPERATOR)
    assert api.get(location, headers=bearer(other_operator)).status_code == 404
    assert api.get("/api/v1/jobs/nobody-has-this", headers=bearer(other_operator)).status_code == 404
    for role in (Role.AUDITOR, Role.ADMIN):
        assert api.get(location, headers=bearer(tokens[role])).json()["state"] == "succeeded"
    assert api.get(location, headers=bearer(tokens[Role.CLAIMS_OFFICER])).status_code == 403
    # another principal cannot take over the key either
    taken = post_import(api, other_operator, cohort_csv(3), key="mine")
    assert taken.status_code == 422, taken.text


# --- sizes and broken uploads over a real server --------------------------------------------------------------

BIG_BYTES = 200 * 1024 * 1024
LIMIT_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
RSS_GROWTH_MAX_KIB = 100 * 1024
SOCKET_TIMEOUT_S = 10.0


def _raw_request(host: str, port: int, token: str, headers: dict[str, str]) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=SOCKET_TIMEOUT_S)
    lines = [f"POST {IMPORT_URL} HTTP/1.1", f"Host: {host}:{port}", f"Authorization: Bearer {token}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def _multipart_head(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"agreement_id\"\r\n\r\n{AGREEMENT}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{HEADER}\n").encode()


def _status_of(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            break
        data += more
    return int(data.split(b" ")[1])


def _served_url(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def test_a_200_mb_upload_is_refused_before_it_is_all_sent(signed: Ledger, tokens: dict[Role, str],
                                                          tmp_path: Path) -> None:
    settings = Settings(store="memory://", http_upload_max_bytes=LIMIT_BYTES)
    before = events_count(signed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with served(signed, settings) as url:
        host, port = _served_url(url)
        # declared: refused on the headers alone
        sock = _raw_request(host, port, tokens[Role.OPERATOR], {
            "Content-Type": "multipart/form-data; boundary=b0", "Content-Length": str(BIG_BYTES)})
        assert _status_of(sock) == 413
        sock.close()
        # streamed (chunked, no length): refused once past the limit, long before 200 MB are sent
        sock = _raw_request(host, port, tokens[Role.OPERATOR], {
            "Content-Type": "multipart/form-data; boundary=b1", "Transfer-Encoding": "chunked"})
        head = _multipart_head("b1")
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        chunk = b"x" * CHUNK_BYTES
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        sent, status = 0, None
        while sent < BIG_BYTES:
            readable, _, _ = select.select([sock], [sock], [], SOCKET_TIMEOUT_S)
            if readable:
                status = _status_of(sock)
                break
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                status = _status_of(sock)
                break
            sent += len(chunk)
        sock.close()
        assert status == 413, (status, sent)
        assert sent < BIG_BYTES // 4, sent
        import httpx

        assert httpx.get(f"{url}/healthz").status_code == 200
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert rss_growth < RSS_GROWTH_MAX_KIB, rss_growth
    assert events_count(signed) == before
    assert list((tmp_path / "uploads").iterdir()) == []


def test_a_client_that_goes_away_mid_upload_imports_nothing(signed: Ledger, tokens: dict[Role, str],
                                                            tmp_path: Path) -> None:
    import httpx

    before = events_count(signed)
    body = _multipart_head("b2") + cohort_csv(2_000)[len(HEADER) + 1:] + b"\r\n--b2--\r\n"
    with served(signed) as url:
        host, port = _served_url(url)
        sock = _raw_request(host, port, tokens[Role.OPERATOR], {
            "Content-Type": "multipart/form-data; boundary=b2", "Content-Length": str(len(body))})
        sock.sendall(body[: len(body) // 2])
        time.sleep(0.2)
        sock.close()
        time.sleep(0.3)
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert events_count(signed) == before
        assert list((tmp_path / "uploads").iterdir()) == []
        # and the server still imports a whole file
        whole = httpx.post(f"{url}{IMPORT_URL}", headers=bearer(tokens[Role.OPERATOR]),
                           data={"agreement_id": AGREEMENT, "effective_on": ON.isoformat()},
                           files={"file": ("c.csv", cohort_csv(3), "text/csv")})
        assert whole.status_code == 202, whole.text


@pytest.mark.parametrize("raw_name", [b"x\x01.csv", b"a\x7f.csv", b"../../etc/passwd"])
def test_a_raw_file_name_with_control_characters_is_refused(signed: Ledger, api: TestClient,
                                                            tokens: dict[Role, str], raw_name: bytes) -> None:
    """The name as a client that encodes nothing sends it."""
    before = events_count(signed)
    body = (b"--b9\r\nContent-Disposition: form-data; name=\"agreement_id\"\r\n\r\n" + AGREEMENT.encode() +
            b"\r\n--b9\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + raw_name +
            b"\"\r\nContent-Type: text/csv\r\n\r\n" + cohort_csv(2) + b"\r\n--b9--\r\n")
    sent = api.post(IMPORT_URL, content=body, headers=bearer(tokens[Role.OPERATOR], **{
        "Content-Type": "multipart/form-data; boundary=b9"}))
    assert sent.status_code == 422, sent.text
    assert sent.json()["field"] == "file"
    assert events_count(signed) == before


def test_a_large_statement_file_is_imported_by_a_job(signed: Ledger, api: TestClient, tokens: dict[Role, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from api.routes import bulk as bulk_routes

    monkeypatch.setattr(bulk_routes, "STATEMENT_SYNC_LINES_MAX", 1)
    token = tokens[Role.FINANCE]
    sent = api.post(STATEMENT_URL, headers=bearer(token, **{"Idempotency-Key": "stmt-1"}),
                    data={"payer_id": PAYER}, files={"file": ("rekening.csv", statement_csv([16_800, 33_600]),
                                                              "text/csv")})
    assert sent.status_code == 202, sent.text
    job = wait_job(api, token, sent.headers["location"])
    assert job["state"] == "succeeded", job
    assert (job["kind"], job["result"]["imported"], job["result"]["total_rp"]) == ("reconcile.import", 1, 50_400)


def test_an_upload_must_be_multipart_with_one_file(api: TestClient, tokens: dict[Role, str]) -> None:
    token = tokens[Role.OPERATOR]
    assert api.post(IMPORT_URL, headers=bearer(token), json={"agreement_id": AGREEMENT}).status_code == 415
    missing = api.post(IMPORT_URL, headers=bearer(token), data={"agreement_id": AGREEMENT},
                       files={"other": ("c.csv", b"x", "text/csv")})
    assert missing.status_code == 422 and missing.json()["field"] == "other", missing.text
    unknown = post_import(api, token, cohort_csv(2), colour="blue")
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour", unknown.text


def test_the_upload_is_kept_privately_under_a_server_name_and_removed(signed: Ledger, api: TestClient,
                                                                      tokens: dict[Role, str], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from api.routes import bulk as bulk_routes

    seen: list[tuple[Path, int, int]] = []
    real = bulk_routes.read_cohort  # type: ignore[attr-defined]

    def spy(path: Path) -> Any:
        seen.append((path, path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777))
        return real(path)

    monkeypatch.setattr(bulk_routes, "read_cohort", spy)
    assert imported(api, tokens[Role.OPERATOR], cohort_csv(2), name="Kohort Januari.csv")["state"] == "succeeded"
    ((path, file_mode, dir_mode),) = seen
    assert path.parent.parent == tmp_path / "uploads" and path.name == "upload.csv"
    assert (file_mode, dir_mode) == (0o600, 0o700)
    assert not path.exists() and list((tmp_path / "uploads").iterdir()) == []
