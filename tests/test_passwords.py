"""Web passwords of principals (docs/rules.md#principals): the policy, argon2id hashing, setting one (admin only,
on every face), authenticating with it, and the hash never leaving the store."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.app import app
from commands import authorise
from commands.authorise import Actor, authenticate, authenticate_password, local_actor
from commands.messages import RevokePrincipal, SetPrincipalPassword, make
from commands.passwords import (
    HASHER,
    PASSWORD_LEN_MAX,
    PASSWORD_LEN_MIN,
    hash_password,
    needs_rehash,
    verify_password,
)
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from ledger.errors import InvalidInput, NotFound, RuleViolation, Unauthenticated
from ledger.principal import Principal, principal_id_for, require_password_argon2
from ledger.values import Role
from projections.access import principals
from projections.event_messages import PARTITIONS, event_message
from tests.api_support import bearer, client
from tests.conftest import grant, run

PASSWORD = "kebun sawit di bengkayang"
NAME = "keuangan.test"


def set_password(ledger: Ledger, name: str, password: str, actor: Actor | None = None) -> dict[str, Any]:
    return run(ledger, SetPrincipalPassword(name=name, password_argon2=hash_password(password, name)),
               actor or local_actor())


def passwords_set(ledger: Ledger) -> int:
    """How many ``PrincipalPasswordSet`` events the log holds."""
    return sum(r[3].endswith(":PrincipalPasswordSet") for r in ledger.store.read_log(0, 10_000))


def stored_hash(ledger: Ledger, name: str) -> str:
    return ledger.store.load(Principal, principal_id_for(name)).state.password_argon2


# --- the policy and the hash -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "reason"), [
    ("a" * (PASSWORD_LEN_MIN - 1) + "", "too short"),
    ("abc123", "too short"),
    ("x" + "ab" * PASSWORD_LEN_MAX, "too long"),
    (NAME, "name"),
    (f"my-{NAME.upper()}-2026", "name"),
    ("z" * 20, "one character"),
])
def test_the_policy_refuses_naming_the_password(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        hash_password(password, NAME)
    assert refused.value.field == "password" and reason in refused.value.reason
    assert PASSWORD not in str(refused.value) and password not in refused.value.reason


def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first, second = hash_password(PASSWORD, NAME), hash_password(PASSWORD, NAME)
    assert first.startswith("$argon2id$") and first != second, "a new salt each time"
    assert require_password_argon2(first) == first
    assert verify_password(first, PASSWORD) and verify_password(second, PASSWORD)
    assert not verify_password(first, PASSWORD + " ")
    assert not verify_password("not a hash", PASSWORD) and not verify_password("", PASSWORD)
    assert not needs_rehash(first) and needs_rehash("not a hash")
    assert not needs_rehash(authorise.DUMMY_PASSWORD_ARGON2), "the dummy costs what a real hash costs"
    assert HASHER.hash(PASSWORD).split("$")[3] == authorise.DUMMY_PASSWORD_ARGON2.split("$")[3]


@pytest.mark.parametrize("value", ["", "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "b" * 64,
                                   "$argon2id$v=19$m=65536,t=3,p=4$" + "A" * 250 + "$aGFzaA"])
def test_the_event_takes_only_an_argon2id_hash(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        require_password_argon2(value)
    assert refused.value.field == "password_argon2"


def test_the_command_takes_only_an_argon2id_hash_and_its_payload_has_none() -> None:
    with pytest.raises(InvalidInput) as refused:
        make(SetPrincipalPassword, name=NAME, password_argon2=PASSWORD)
    assert refused.value.field == "password_argon2"
    one = SetPrincipalPassword(command_id="c", name=NAME, password_argon2=hash_password(PASSWORD, NAME))
    other = SetPrincipalPassword(command_id="c", name=NAME, password_argon2=hash_password(PASSWORD, NAME))
    assert one.payload() == other.payload() and "password_argon2" not in one.payload()


# --- setting and authenticating ------------------------------------------------------------------------------


def test_a_set_password_authenticates_as_the_token_does(memory_ledger: Ledger) -> None:
    token = grant(memory_ledger, NAME, Role.FINANCE, scope="payer:PEMKAB-BKY")
    assert set_password(memory_ledger, NAME, PASSWORD)["password_set"] is True
    assert authenticate_password(memory_ledger, NAME, PASSWORD) == authenticate(memory_ledger, token)
    listed = next(p for p in principals(memory_ledger.store) if p["name"] == NAME)
    assert listed["password_set"] and listed["token_rotations"] == 0
    assert stored_hash(memory_ledger, NAME) not in json.dumps(listed, default=str)
    set_password(memory_ledger, NAME, "another long password")  # replaces the first at once
    with pytest.raises(Unauthenticated):
        authenticate_password(memory_ledger, NAME, PASSWORD)
    assert authenticate_password(memory_ledger, NAME, "another long password").name == NAME


def test_a_token_s_expiry_does_not_bind_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    clock = SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB))
    ledger = bootstrap("memory://", clock=clock)
    try:
        from commands.authorise import new_token
        from commands.messages import AddPrincipal

        token, digest = new_token(NAME)
        run(ledger, AddPrincipal(name=NAME, roles=[Role.AUDITOR], token_sha256=digest,
                                 token_expires_on=date(2026, 1, 5)), local_actor())
        set_password(ledger, NAME, PASSWORD)
        clock.set_day(date(2026, 1, 5) + timedelta(days=2))
        with pytest.raises(Unauthenticated, match="expired"):
            authenticate(ledger, token)
        assert authenticate_password(ledger, NAME, PASSWORD).name == NAME
    finally:
        ledger.close()


@pytest.fixture
def counted_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification ``authenticate_password`` makes (the hash it verified against)."""
    seen: list[str] = []
    real: Callable[[str, str], bool] = authorise.verify_password

    def counting(password_argon2: str, password: str) -> bool:
        seen.append(password_argon2)
        return real(password_argon2, password)

    monkeypatch.setattr(authorise, "verify_password", counting)
    return seen


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong password", "wrong password"),
    ("too long a password", "wrong password"),
    ("unknown name", "unknown principal"),
    ("malformed name", "malformed name"),
    ("revoked", "revoked on"),
    ("no password", "no password set"),
])
def test_every_refusal_is_unauthenticated_writes_nothing_and_costs_one_verification(
        memory_ledger: Ledger, counted_verifications: list[str], case: str, reason: str) -> None:
    grant(memory_ledger, NAME, Role.AUDITOR)
    grant(memory_ledger, "without.password", Role.AUDITOR)
    set_password(memory_ledger, NAME, PASSWORD)
    name, password = NAME, PASSWORD
    if case == "wrong password":
        password = PASSWORD + "!"
    elif case == "too long a password":
        password = PASSWORD * 10
    elif case == "unknown name":
        name = "nobody.here"
    elif case == "malformed name":
        name = "Not A Name!"
    elif case == "revoked":
        run(memory_ledger, RevokePrincipal(name=NAME, reason="left the office"), local_actor())
        assert stored_hash(memory_ledger, NAME) == "", "revocation clears the password"
    else:
        name = "without.password"
    before = memory_ledger.store.max_notification_id()
    counted_verifications.clear()
    with pytest.raises(Unauthenticated) as refused:
        authenticate_password(memory_ledger, name, password)
    assert refused.value.field == "password" and reason in refused.value.reason
    assert len(counted_verifications) == 1, "one argon2 verification, whatever the name"
    assert memory_ledger.store.max_notification_id() == before


def test_only_an_active_principal_gets_a_password(memory_ledger: Ledger) -> None:
    grant(memory_ledger, NAME, Role.AUDITOR)
    run(memory_ledger, RevokePrincipal(name=NAME, reason="left the office"), local_actor())
    before = memory_ledger.store.max_notification_id()
    with pytest.raises(RuleViolation):
        set_password(memory_ledger, NAME, PASSWORD)
    with pytest.raises(NotFound):
        set_password(memory_ledger, "nobody.here", PASSWORD)
    assert memory_ledger.store.max_notification_id() == before


def test_the_hash_never_leaves_the_store_in_an_event_message(memory_ledger: Ledger) -> None:
    grant(memory_ledger, NAME, Role.AUDITOR)
    set_password(memory_ledger, NAME, PASSWORD)
    digest = stored_hash(memory_ledger, NAME)
    [row] = [r for r in memory_ledger.store.read_log(0, 100) if r[3].endswith(":PrincipalPasswordSet")]
    position, aggregate_id, version, topic, state = row
    message = event_message(position, uuid.UUID(aggregate_id), version, topic, state, PARTITIONS)
    assert message.type == "PrincipalPasswordSet" and message.actor.startswith("local:")
    assert "password_argon2" not in message.payload and message.dropped_fields == ["password_argon2"]
    assert digest not in message.model_dump_json() and PASSWORD not in message.model_dump_json()


# --- HTTP --------------------------------------------------------------------------------------------------------

API = "/api/v1"


@pytest.fixture
def served_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap(f"sqlite:///{tmp_path / 'pw.db'}", clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))
    yield ledger
    ledger.close()


def test_an_admin_sets_a_password_over_http_and_a_retry_is_a_replay(served_ledger: Ledger,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = grant(served_ledger, "admin.test", Role.ADMIN)
    auditor = grant(served_ledger, "auditor.test", Role.AUDITOR)
    grant(served_ledger, NAME, Role.FINANCE)
    http = client(served_ledger)
    before = served_ledger.store.max_notification_id()
    url = f"{API}/principals/{NAME}/password"
    first = http.post(url, json={"password": PASSWORD}, headers=bearer(admin, **{"Idempotency-Key": "pw-1"}))
    assert first.status_code == 200, first.text
    assert first.json() == {"name": NAME, "password_set": True}
    assert first.headers["Idempotency-Replayed"] == "false"
    assert passwords_set(served_ledger) == 1
    written = served_ledger.store.max_notification_id()
    assert written > before
    assert authenticate_password(served_ledger, NAME, PASSWORD).name == NAME
    again = http.post(url, json={"password": PASSWORD}, headers=bearer(admin, **{"Idempotency-Key": "pw-1"}))
    assert (again.status_code, again.json(), again.headers["Idempotency-Replayed"]) == (200, first.json(), "true")
    assert served_ledger.store.max_notification_id() == written, "a replay writes nothing"
    feed = http.get(f"{API}/events", params={"after": 0, "limit": 100}, headers=bearer(auditor))
    assert feed.status_code == 200 and "PrincipalPasswordSet" in feed.text
    digest = stored_hash(served_ledger, NAME)
    for text in (feed.text, first.text, caplog.text):
        assert digest not in text and PASSWORD not in text


def test_a_password_refused_over_http_names_password_and_writes_nothing(served_ledger: Ledger) -> None:
    admin = grant(served_ledger, "admin.test", Role.ADMIN)
    grant(served_ledger, NAME, Role.FINANCE)
    http = client(served_ledger)
    before = served_ledger.store.max_notification_id()
    for body in ({"password": "short"}, {"password": f"xx{NAME}xx-2026"}, {"password": PASSWORD, "extra": 1}):
        refused = http.post(f"{API}/principals/{NAME}/password", json=body, headers=bearer(admin))
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["field"] == ("extra" if "extra" in body else "password"), problem
        assert body["password"] not in refused.text
    unknown = http.post(f"{API}/principals/nobody.here/password", json={"password": PASSWORD}, headers=bearer(admin))
    assert unknown.status_code == 404 and unknown.json()["field"] == "name"
    assert served_ledger.store.max_notification_id() == before


def test_a_non_admin_cannot_set_a_password_over_http(served_ledger: Ledger) -> None:
    grant(served_ledger, NAME, Role.FINANCE)
    http = client(served_ledger)
    before = served_ledger.store.max_notification_id()
    for role in (r for r in Role if r is not Role.ADMIN):
        token = grant(served_ledger, f"not-admin-{role.value}", role)
        before = served_ledger.store.max_notification_id()
        refused = http.post(f"{API}/principals/{NAME}/password", json={"password": PASSWORD}, headers=bearer(token))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", (role, refused.text)
        assert served_ledger.store.max_notification_id() == before
    stranger = http.post(f"{API}/principals/{NAME}/password", json={"password": PASSWORD})
    assert stranger.status_code == 401
    assert stored_hash(served_ledger, NAME) == ""


# --- CLI ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "cli.key"))
    monkeypatch.setenv("JAMSOS_STORE", store)
    monkeypatch.delenv("JAMSOS_TOKEN", raising=False)
    ledger = bootstrap(store)
    grant(ledger, NAME, Role.FINANCE)
    yield ledger
    ledger.close()


def test_cli_password_stdin_sets_it_and_never_prints_it(cli_store: Ledger) -> None:
    result = CliRunner().invoke(app, ["principal", "set-password", NAME, "--password-stdin", "--json"],
                                input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": NAME, "password_set": True}
    assert PASSWORD not in result.output and stored_hash(cli_store, NAME) not in result.output
    assert authenticate_password(cli_store, NAME, PASSWORD).name == NAME


def test_cli_prompt_asks_twice_hidden(cli_store: Ledger) -> None:
    result = CliRunner().invoke(app, ["principal", "set-password", NAME], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("assword") >= 2 and PASSWORD not in result.output, result.output
    assert authenticate_password(cli_store, NAME, PASSWORD).name == NAME


def test_cli_a_too_short_password_is_refused_naming_password(cli_store: Ledger) -> None:
    before = cli_store.store.max_notification_id()
    for stdin in ("short\n", ""):
        result = CliRunner().invoke(app, ["principal", "set-password", NAME, "--password-stdin"], input=stdin)
        assert result.exit_code != 0
        assert result.stderr.startswith("error: password: "), result.stderr
    assert cli_store.store.max_notification_id() == before
    assert stored_hash(cli_store, NAME) == ""


def test_cli_a_non_admin_cannot_set_a_password(cli_store: Ledger) -> None:
    token = grant(cli_store, "auditor.test", Role.AUDITOR)
    before = cli_store.store.max_notification_id()
    result = CliRunner().invoke(app, ["--token", token, "principal", "set-password", NAME, "--password-stdin"],
                                input=PASSWORD + "\n")
    assert result.exit_code == 10, result.output
    assert "error: principal: " in result.stderr and "admin" in result.stderr
    assert cli_store.store.max_notification_id() == before
