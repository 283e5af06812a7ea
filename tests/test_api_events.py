"""The HTTP event feed: pages and Server-Sent Events equal the relay's messages, filtered by the reader's scope,
resumable without loss or repeat; /readyz shows each relay's lag.

Two schemes in two regions with two payers (Singkawang 61.72 / PEMKOT-SKW, Pontianak 61.71 / PEMKOT-PTK), a
self-paying Singkawang member, claims, workforce figures, principals: each scoped principal must see exactly the
events of its own aggregates, the national one all of them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest

from api.routes import events as events_route
from commands.authorise import READ_ROLES, local_actor
from commands.messages import EnrolMember, PayContribution, RecordWorkforce, RevokePrincipal, SubmitClaim
from eventstore.bootstrap import Ledger
from ledger.agreement import agreement_id_for
from ledger.claim import claim_id_for
from ledger.identity import member_id_for
from ledger.region import region_id_for
from ledger.reservations import payment_reference_id
from ledger.values import ClaimType, Role
from projections.event_feed import LIMIT_MAX, read_batch
from projections.runner import views_engine
from services.relay import RelayPosition
from tests.api_support import bearer, client, served
from tests.conftest import execute, grant, nik, run
from tests.test_behaviour import sign

API = "/api/v1/events"
STREAM = "/api/v1/events/stream"
SHUTDOWN_S = 3.0
"""A server with an open stream must have stopped (thread gone) within this."""
READ_TIMEOUT_S = 10.0


@dataclass
class Scheme:
    """What one region's scheme wrote: the aggregate ids a principal of its payer / region must see."""

    code: str
    payer_id: str
    region_code: str
    niks: list[str] = field(default_factory=list)
    rate: int = 0
    payer_ids: set[uuid.UUID] = field(default_factory=set)
    """Aggregates of the payer: the agreement, its members and their claims, its spent payment references."""
    region_only: set[uuid.UUID] = field(default_factory=set)
    """Aggregates of the region outside the payer: the region's workforce, a self-paying member and its claim."""

    @property
    def region_ids(self) -> set[uuid.UUID]:
        return self.payer_ids | self.region_only


def _member(ledger: Ledger, number: str) -> uuid.UUID:
    return member_id_for(ledger.keyring.secrets.pepper, number)


def write_scheme(ledger: Ledger, s: Scheme, first: int, count: int, *, self_paying: bool = True) -> None:
    """Sign, enrol ``count`` members (and a self-paying one), pay a month each, submit a claim, record workforce."""
    region4 = s.region_code.replace(".", "")
    rate = s.rate = sign(ledger, s.code, payer_id=s.payer_id, payer_name=f"Pemkot {s.code}", region_code=s.region_code,
                command_id=f"sign-{s.code}")["rate_per_member_month_rp"]
    s.payer_ids.add(agreement_id_for(s.code))
    for i in range(first, first + count):
        number = nik(i, region4)
        execute(ledger, EnrolMember(nik=number, name=f"Worker {i}", region_code=s.region_code, role="PETANI",
                                    agreement_id=s.code, effective_on=date(2025, 1, 6)))
        execute(ledger, PayContribution(nik=number, periods=["2025-01"], amount_rp=rate,
                                        payment_reference=f"SP2D-{s.code}-{i}", effective_on=date(2025, 1, 7)))
        s.niks.append(number)
        s.payer_ids |= {_member(ledger, number), payment_reference_id(f"SP2D-{s.code}-{i}")}
    claim = f"C-{s.code}"
    execute(ledger, SubmitClaim(claim_id=claim, nik=s.niks[0], claim_type=ClaimType.JKM_DEATH,
                                event_date=date(2025, 1, 20), effective_on=date(2025, 1, 25)))
    s.payer_ids.add(claim_id_for(claim))
    execute(ledger, RecordWorkforce(region_code=s.region_code, workforce=1000 + first, source="BPS Sakernas 2025",
                                    effective_on=date(2025, 1, 26)))
    s.region_only.add(region_id_for(s.region_code))
    if self_paying:
        number = nik(first + count, region4)
        execute(ledger, EnrolMember(nik=number, name="Self payer", region_code=s.region_code, role="NELAYAN",
                                    declared_income_rp=2_000_000, effective_on=date(2025, 1, 27)))
        s.region_only.add(_member(ledger, number))


SKW = ("SKW-FEED-2025", "PEMKOT-SKW", "61.72")
PTK = ("PTK-FEED-2025", "PEMKOT-PTK", "61.71")


@pytest.fixture
def two_regions(ledger: Ledger) -> tuple[Ledger, Scheme, Scheme]:
    skw, ptk = Scheme(*SKW), Scheme(*PTK)
    write_scheme(ledger, skw, 1, 3)
    write_scheme(ledger, ptk, 11, 2)
    return ledger, skw, ptk


def log_messages(ledger: Ledger) -> list[dict[str, Any]]:
    """Every event as the relay publishes it (JSON form)."""
    return [m.model_dump(mode="json") for m in read_batch(ledger.store, 0, ledger.store.max_notification_id())]


def page_through(http: Any, token: str, limit: int) -> list[dict[str, Any]]:
    """Every page from 0 until caught up; asserts the paging contract on the way."""
    out: list[dict[str, Any]] = []
    after = 0
    for _ in range(10_000):
        r = http.get(API, params={"after": after, "limit": limit}, headers=bearer(token))
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["events"]) <= limit
        assert page["next_after"] >= after and page["next_after"] <= page["head"]
        assert all(e["position"] > after for e in page["events"])
        if page["events"]:
            assert page["next_after"] >= page["events"][-1]["position"]
        out.extend(page["events"])
        if page["next_after"] == page["head"] and page["next_after"] == after:
            return out
        after = page["next_after"]
    raise AssertionError("the feed never caught up")


def test_paging_through_the_feed_equals_the_log(two_regions: tuple[Ledger, Scheme, Scheme]) -> None:
    ledger, _, _ = two_regions
    token = grant(ledger, "feed-auditor", Role.AUDITOR)
    log = log_messages(ledger)
    limit = 7
    assert len(log) > 3 * limit, "the scenario spans several pages"
    with client(ledger) as http:
        seen = page_through(http, token, limit)
        assert seen == log_messages(ledger)  # grant wrote events after `log` was read: compare to the log now
        positions = [e["position"] for e in seen]
        assert positions == sorted(set(positions)), "strictly increasing, nothing twice"
        full = http.get(API, params={"after": 0, "limit": LIMIT_MAX}, headers=bearer(token)).json()
        assert full["events"] == seen and full["next_after"] == full["head"] == positions[-1]
        beyond = http.get(API, params={"after": full["head"]}, headers=bearer(token)).json()
        assert beyond == {"events": [], "next_after": full["head"], "head": full["head"]}


def scoped_view(ledger: Ledger, token: str, limit: int) -> list[dict[str, Any]]:
    with client(ledger) as http:
        return page_through(http, token, limit)


@pytest.mark.parametrize("limit", [2, LIMIT_MAX])
def test_each_scope_sees_exactly_its_aggregates(two_regions: tuple[Ledger, Scheme, Scheme], limit: int) -> None:
    ledger, skw, ptk = two_regions
    tokens = {
        "payer:PEMKOT-SKW": grant(ledger, "fin-skw", Role.FINANCE, scope="payer:PEMKOT-SKW"),
        "payer:PEMKOT-PTK": grant(ledger, "fin-ptk", Role.FINANCE, scope="payer:PEMKOT-PTK"),
        "region:61.72": grant(ledger, "op-skw", Role.OPERATOR, scope="region:61.72"),
        "region:61.71": grant(ledger, "bo-ptk", Role.BUDGET_OWNER, scope="region:61.71"),
        "region:61": grant(ledger, "aud-kalbar", Role.AUDITOR, scope="region:61"),
        "all": grant(ledger, "aud-all", Role.AUDITOR),
    }
    expected = {"payer:PEMKOT-SKW": skw.payer_ids, "payer:PEMKOT-PTK": ptk.payer_ids,
                "region:61.72": skw.region_ids, "region:61.71": ptk.region_ids,
                "region:61": skw.region_ids | ptk.region_ids}
    log = log_messages(ledger)
    in_log = {uuid.UUID(m["aggregate_id"]) for m in log}
    for scope, ids in expected.items():
        assert ids <= in_log, f"{scope}: the scenario wrote events of every expected aggregate"
        seen = scoped_view(ledger, tokens[scope], limit)
        assert seen == [m for m in log if uuid.UUID(m["aggregate_id"]) in ids], scope
    assert scoped_view(ledger, tokens["all"], limit) == log
    national_only = in_log - skw.region_ids - ptk.region_ids
    assert national_only, "principals and command records are in the log, for the national scope only"


def test_a_hidden_member_never_appears_and_cursors_pass_hidden_events(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    skw, ptk = Scheme(*SKW), Scheme(*PTK)
    write_scheme(ledger, skw, 1, 2, self_paying=False)
    token = grant(ledger, "op-ptk", Role.OPERATOR, scope="region:61.71")
    before = ledger.store.max_notification_id()
    write_scheme(ledger, ptk, 11, 1, self_paying=False)
    hidden = _member(ledger, skw.niks[0])
    execute(ledger, PayContribution(nik=skw.niks[0], periods=["2025-02"], amount_rp=skw.rate,
                                    payment_reference="SP2D-LATE", effective_on=date(2025, 2, 3)))
    head = ledger.store.max_notification_id()
    with client(ledger) as http:
        first = http.get(API, params={"after": 0, "limit": LIMIT_MAX}, headers=bearer(token)).json()
        ids = {e["aggregate_id"] for e in first["events"]}
        assert str(hidden) not in ids and ids <= {str(i) for i in ptk.region_ids}
        assert all(e["position"] > before for e in first["events"]), "nothing of Singkawang's scheme"
        assert first["next_after"] == head, "the cursor passes the hidden payment at the end"
        last_visible = first["events"][-1]["position"]
        rest = http.get(API, params={"after": last_visible}, headers=bearer(token)).json()
        assert rest == {"events": [], "next_after": head, "head": head}


def test_who_may_read_the_feed(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    allowed = READ_ROLES["events"] | {Role.ADMIN}
    with client(ledger) as http:
        assert http.get(API).status_code == 401
        assert http.get(STREAM).status_code == 401
        assert http.get(API, headers=bearer("jst1.bm9ib2R5.not-a-token")).status_code == 401
        for role in Role:
            token = grant(ledger, f"who-{role.value}", role)
            status = http.get(API, headers=bearer(token)).status_code
            assert status == (200 if role in allowed else 403), role
            if role not in allowed:
                assert http.get(STREAM, headers=bearer(token)).status_code == 403
        roles = http.get("/api/v1/openapi.json").json()["paths"]
        assert roles[API]["get"]["x-roles"] == sorted(r.value for r in allowed)
        assert roles[STREAM]["get"]["x-roles"] == sorted(r.value for r in allowed)


@pytest.mark.parametrize(("path", "params", "headers", "field_name"), [
    (API, {"after": -1}, {}, "after"),
    (API, {"after": "x"}, {}, "after"),
    (API, {"limit": 0}, {}, "limit"),
    (API, {"limit": LIMIT_MAX + 1}, {}, "limit"),
    (STREAM, {"after": -1}, {}, "after"),
    (STREAM, {}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
    (STREAM, {}, {"Last-Event-ID": "-3"}, "Last-Event-ID"),
])
def test_bad_cursor_or_limit_is_422_naming_the_field(memory_ledger: Ledger, path: str, params: dict[str, Any],
                                                     headers: dict[str, str], field_name: str) -> None:
    token = grant(memory_ledger, "feed-reader", Role.AUDITOR)
    with client(memory_ledger) as http:
        r = http.get(path, params=params, headers=bearer(token, **headers))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field_name


# --- Server-Sent Events through a real uvicorn ----------------------------------------------------------------


@dataclass
class Sse:
    """A minimal SSE reader over an httpx streaming response: blocks until an event (or a comment)."""

    lines: Iterator[str]
    comments: list[str] = field(default_factory=list)

    def next_event(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "data" in fields:
                    return fields
                fields = {}
            elif line.startswith(":"):
                self.comments.append(line)
            else:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    def next_message(self) -> dict[str, Any]:
        """The next event's message, checking that ``id`` and ``event`` agree with it."""
        ev = self.next_event()
        message: dict[str, Any] = json.loads(ev["data"])
        assert int(ev["id"]) == message["position"] and ev["event"] == message["type"]
        return message

    def events_until(self, position: int) -> list[dict[str, Any]]:
        out = [self.next_message()]
        while out[-1]["position"] < position:
            out.append(self.next_message())
        return out

    def drain(self) -> int:
        """Read until the server ends the stream (a read timeout fails instead); how many events came."""
        count = 0
        try:
            while True:
                self.next_event()
                count += 1
        except EOFError:
            return count

    def comment(self) -> str:
        """The next comment line (events before it are dropped)."""
        for line in self.lines:
            if line.startswith(":"):
                return line
        raise EOFError("the stream ended")


def open_stream(http: httpx.Client, token: str, **headers: str) -> Any:
    return http.stream("GET", STREAM, headers=bearer(token, **headers))


@pytest.fixture
def fast_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "POLL_S", 0.05)
    monkeypatch.setattr(events_route, "HEARTBEAT_S", 0.2)


def test_stream_resumes_after_last_event_id_missing_nothing(memory_ledger: Ledger, fast_stream: None) -> None:
    ledger = memory_ledger
    skw = Scheme(*SKW)
    write_scheme(ledger, skw, 1, 2)
    token = grant(ledger, "stream-auditor", Role.AUDITOR)
    with served(ledger) as base, httpx.Client(base_url=base, timeout=READ_TIMEOUT_S) as http:
        with open_stream(http, token) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            sse = Sse(resp.iter_lines())
            first = [sse.next_message() for _ in range(3)]
        last_id = first[-1]["position"]
        ptk = Scheme(*PTK)
        write_scheme(ledger, ptk, 11, 2)  # written while nobody listens
        with open_stream(http, token, **{"Last-Event-ID": str(last_id)}) as resp:
            sse = Sse(resp.iter_lines())
            rest = sse.events_until(ledger.store.max_notification_id())
            execute(ledger, RecordWorkforce(region_code="61.72", workforce=4242, source="BPS Sakernas 2026",
                                            effective_on=date(2025, 2, 1)))  # written while it listens
            rest += sse.events_until(ledger.store.max_notification_id())
            assert sse.comment() == ": keepalive", "a heartbeat while idle"
    assert first + rest == log_messages(ledger)


def test_scoped_stream_shows_only_its_scope(memory_ledger: Ledger, fast_stream: None) -> None:
    ledger = memory_ledger
    skw, ptk = Scheme(*SKW), Scheme(*PTK)
    write_scheme(ledger, skw, 1, 2)
    write_scheme(ledger, ptk, 11, 2)
    token = grant(ledger, "stream-fin-ptk", Role.FINANCE, scope="payer:PEMKOT-PTK")
    expected = [m for m in log_messages(ledger) if uuid.UUID(m["aggregate_id"]) in ptk.payer_ids]
    with (served(ledger) as base, httpx.Client(base_url=base, timeout=READ_TIMEOUT_S) as http,
          open_stream(http, token) as resp):
        assert Sse(resp.iter_lines()).events_until(expected[-1]["position"]) == expected


def test_stream_ends_when_the_token_is_revoked(memory_ledger: Ledger, fast_stream: None) -> None:
    ledger = memory_ledger
    token = grant(ledger, "stream-op", Role.OPERATOR)
    with (served(ledger) as base, httpx.Client(base_url=base, timeout=READ_TIMEOUT_S) as http,
          open_stream(http, token) as resp):
        sse = Sse(resp.iter_lines())
        sse.next_event()
        run(ledger, RevokePrincipal(name="stream-op", reason="left the office"), local_actor())
        sse.drain()  # the stream ends at the next token check (else the read times out)


def test_server_stops_promptly_with_a_stream_open(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    token = grant(ledger, "stream-watcher", Role.AUDITOR)
    before = {t.ident for t in threading.enumerate()}
    server = served(ledger)
    base = server.__enter__()
    with httpx.Client(base_url=base, timeout=READ_TIMEOUT_S) as http, open_stream(http, token) as resp:
        sse = Sse(resp.iter_lines())
        sse.next_event()
        started = time.monotonic()
        server.__exit__(None, None, None)
        elapsed = time.monotonic() - started
        sse.drain()  # what was sent before the shutdown, then a clean end (no protocol error, no timeout)
    assert elapsed < SHUTDOWN_S, f"uvicorn took {elapsed:.1f}s to stop with a stream open"
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("uvicorn-")]


# --- /readyz: relay lag ---------------------------------------------------------------------------------------


def test_readyz_lists_each_relay_with_its_lag(memory_ledger: Ledger) -> None:
    ledger = memory_ledger
    write_scheme(ledger, Scheme(*SKW), 1, 1, self_paying=False)
    with client(ledger) as http:
        assert http.get("/readyz").json()["relays"] == []
        head = ledger.store.max_notification_id()
        position = RelayPosition(views_engine(ledger.store), "rabbit-main")
        position.advance(0, head - 2, head - 2, "amqp://127.0.0.1:5672/")
        RelayPosition(views_engine(ledger.store), "nats-dr")
        relays = http.get("/readyz").json()["relays"]
    assert [(r["relay"], r["position"], r["lag"]) for r in relays] == [("nats-dr", 0, head),
                                                                        ("rabbit-main", head - 2, 2)]
    assert all("broker" not in r for r in relays), "no broker address on an unauthenticated probe"


def test_the_last_position_a_caller_may_name_pages_to_nothing(memory_ledger: Ledger) -> None:
    """The largest ``after`` is answered (an empty page: nothing lies beyond it), one more is refused naming it;
    neither reaches the store with a number its integers cannot hold."""
    token = grant(memory_ledger, "feed-auditor", Role.AUDITOR)
    api = client(memory_ledger)
    largest = events_route.POSITION_MAX
    page = api.get("/api/v1/events", params={"after": largest}, headers=bearer(token))
    assert page.status_code == 200 and page.json()["events"] == []
    beyond = api.get("/api/v1/events", params={"after": largest + 1}, headers=bearer(token))
    assert beyond.status_code == 422 and beyond.json()["field"] == "after"
