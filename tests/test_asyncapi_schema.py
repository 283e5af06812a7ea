"""docs/asyncapi.yaml against the official AsyncAPI 3.0.0 JSON schema, and against the code.

The document must be valid AsyncAPI (a broken one must fail the same check), say what the relay does (persistent
messages, the parameters of its address), and give every event type and every command kind its own schema, which
real relayed events and the command consumer's decisions must agree with. ``tests/test_asyncapi.py`` proves the
committed document is what the code generates today.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
import yaml
from jsonschema import Draft7Validator

from cli.seed_demo import synthetic_nik
from commands.authorise import Actor, authenticate, local_actor
from commands.messages import (
    COMMAND_TYPES,
    AmendBudget,
    ApproveClaim,
    BillAgreement,
    CarryInJht,
    ChangePayer,
    ConfirmBudget,
    EnrolMember,
    ForgetMember,
    ImportStatement,
    PayClaim,
    PayCohort,
    PayContribution,
    RecordWorkforce,
    RejectClaim,
    ResolveException,
    RevealMember,
    RevokePrincipal,
    RotatePrincipalToken,
    RunReconciliation,
    SetPrincipalPassword,
    SettleRefund,
    SignAgreement,
    StatementLine,
    SubmitClaim,
    Sweep,
)
from commands.passwords import hash_password
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.mapper import encode_state
from ledger.errors import RuleViolation
from ledger.events import AgreementClosed, ContributionRefundDue, LedgerEvent
from ledger.principal import Scope
from ledger.values import ClaimType, FundSource, PayerType, Programme, Role
from projections.event_messages import CREDENTIAL_FIELDS, EventMessage, event_message
from services.command_consumer import process
from services.message_schemas import command_message_schema, event_message_schema
from services.relay import read_batch
from services.transport import PARTITIONS, event_subject, publish_event
from tests.conftest import execute, grant

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
OFFICIAL = ROOT / "tests" / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"
RELAY_ADDRESS = "jamsos.events.{partition}.{Type}"
NEVER_EMITTED = {"AgreementClosed"}
"""Event classes no command emits yet (``Agreement.close`` has no command): built by hand below."""


def all_event_classes() -> list[type[LedgerEvent]]:
    def walk(cls: type[LedgerEvent]) -> list[type[LedgerEvent]]:
        return [c for sub in cls.__subclasses__() for c in (sub, *walk(sub))]

    return [c for c in walk(LedgerEvent) if c.__module__ in ("ledger.events", "ledger.access_events")]


EVENT_NAMES = sorted(cls.__name__ for cls in all_event_classes())


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


@pytest.fixture(scope="module")
def official() -> Draft7Validator:
    schema = json.loads(OFFICIAL.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def problems(validator: Draft7Validator, instance: Any) -> list[str]:
    return sorted(f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(instance))


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
    return node


def channel_at(document: dict[str, Any], address: str) -> tuple[str, dict[str, Any]]:
    found = [(key, c) for key, c in document["channels"].items() if c.get("address") == address]
    assert len(found) == 1, f"no single channel at {address}"
    return found[0]


def operation_on(document: dict[str, Any], address: str) -> dict[str, Any]:
    key, _ = channel_at(document, address)
    found = [op for op in document["operations"].values() if resolve(document, op["channel"]["$ref"]) ==
             document["channels"][key]]
    assert len(found) == 1
    return found[0]


def message_validator(document: dict[str, Any], schema_name: str) -> Draft7Validator:
    """A validator of one message against ``components.schemas[schema_name]`` (its references resolved in place)."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return Draft7Validator(root, format_checker=Draft7Validator.FORMAT_CHECKER)


# --- the document is AsyncAPI ----------------------------------------------------------------------------------


def test_the_document_is_a_valid_asyncapi_3_document(document: dict[str, Any], official: Draft7Validator) -> None:
    assert document["asyncapi"] == "3.0.0" == official.schema["properties"]["asyncapi"]["const"]
    assert problems(official, document) == []


BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "an AMQP delivery mode that does not exist": lambda d: operation_on(d, RELAY_ADDRESS)["bindings"]["amqp"]
    .__setitem__("deliveryMode", 3),
    "a channel parameter enum of numbers": lambda d: channel_at(d, RELAY_ADDRESS)[1]["parameters"]["partition"]
    .__setitem__("enum", [0, 1]),
    "an OpenAPI-style discriminator object": lambda d: d["components"]["schemas"]["EventMessage"]
    .__setitem__("discriminator", {"propertyName": "type"}),
    "an AsyncAPI 2 operation action": lambda d: next(iter(d["operations"].values())).__setitem__("action", "publish"),
    "no info": lambda d: d.pop("info"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_document_fails_the_validation(document: dict[str, Any], official: Draft7Validator,
                                                breakage: str) -> None:
    broken = copy.deepcopy(document)
    BREAKAGES[breakage](broken)
    assert problems(official, broken) != [], f"{breakage} was accepted"


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(document))
    assert len(found) > 100
    for ref in found:
        resolve(document, ref)


def test_events_and_commands_share_only_identical_definitions() -> None:
    """FastStream merges both unions' definitions into one components.schemas: a name must mean one shape."""
    events = event_message_schema().model_json_schema()["$defs"]
    commands = command_message_schema().model_json_schema()["$defs"]
    shared = events.keys() & commands.keys()
    assert {"Programme", "PayerType", "FundSource"} <= shared
    assert {name: events[name] for name in shared} == {name: commands[name] for name in shared}


# --- what the relay does ---------------------------------------------------------------------------------------


class RabbitRecorder:
    """Stands in for a RabbitBroker (``kind_of`` reads the class name): records what a publish was asked to do."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **options: Any) -> None:
        self.calls.append(options)


def test_the_relay_publishes_persistent_messages_and_the_document_says_so(
        document: dict[str, Any], relayed: list[EventMessage]) -> None:
    import asyncio

    broker = RabbitRecorder()
    asyncio.run(publish_event(broker, relayed[0].model_dump_json().encode(), relayed[0]))
    (options,) = broker.calls
    assert options["persist"] is True
    binding = operation_on(document, RELAY_ADDRESS)["bindings"]["amqp"]
    assert binding["deliveryMode"] == 2 == 1 + options["persist"]  # AMQP: 1 transient, 2 persistent
    assert binding["mandatory"] is options["mandatory"] is True  # a returned message is a failed publish
    assert operation_on(document, "jamsos.commands.dead")["bindings"]["amqp"]["deliveryMode"] == 2


def test_the_relay_address_declares_its_parameters(document: dict[str, Any], relayed: list[EventMessage]) -> None:
    _, channel = channel_at(document, RELAY_ADDRESS)
    parameters = channel["parameters"]
    assert set(parameters) == set(re.findall(r"{(\w+)}", RELAY_ADDRESS))
    assert parameters["partition"]["enum"] == [str(p) for p in range(PARTITIONS)]
    assert sorted(parameters["Type"]["enum"]) == EVENT_NAMES
    for message in relayed:  # each routing key is the address with declared values substituted
        values = {"partition": str(message.partition), "Type": message.type}
        assert all(values[name] in parameters[name]["enum"] for name in values)
        assert RELAY_ADDRESS.format(**values) == event_subject(message)


# --- one schema per event type and per command kind --------------------------------------------------------------


def test_every_event_type_has_its_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    union = schemas["EventMessage"]
    assert union["discriminator"] == "type" and union["required"] == ["type"]
    assert sorted(resolve(document, r["$ref"])["properties"]["type"]["const"] for r in union["oneOf"]) == EVENT_NAMES
    sealed_seen = set()
    for cls in all_event_classes():
        variant = schemas[cls.__name__]  # named by its discriminator value
        assert variant["properties"]["type"]["const"] == cls.__name__
        assert {"type", "payload", "position", "aggregate_id", "recorded_at"} <= set(variant["required"])
        payload = resolve(document, variant["properties"]["payload"]["$ref"])
        own = set(cls.model_fields) - set(LedgerEvent.model_fields) - CREDENTIAL_FIELDS  # never published
        sealed = {n for n in own if "SealedPersonalData" in str(cls.model_fields[n].annotation)}
        sealed_seen |= {f"{cls.__name__}.{n}" for n in sealed}
        assert set(payload["properties"]) == own, cls.__name__
        assert set(payload.get("required", [])) == {n for n in own - sealed if cls.model_fields[n].is_required()}
        for name in sealed:
            assert payload["properties"][name]["type"] == "null", "sealed data is never published"
    assert sealed_seen == {"MemberEnrolled.personal", "ClaimSubmitted.sealed_details"}


def test_every_command_kind_has_its_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    union = schemas["CommandMessage"]
    assert union["discriminator"] == "kind" and union["required"] == ["kind"]
    assert sorted(r["$ref"].rsplit("/", 1)[-1] for r in union["oneOf"]) == sorted(COMMAND_TYPES)
    for kind, cls in COMMAND_TYPES.items():
        variant = schemas[kind]
        assert variant["properties"]["kind"]["const"] == kind
        assert set(variant["properties"]) == set(cls.model_fields), kind
        assert {"kind", "command_id"} <= set(variant["required"])
        assert variant["additionalProperties"] is False, "the consumer refuses unknown fields"


# --- real messages agree with the schemas -------------------------------------------------------------------


def play_every_event(ledger: Ledger, clock: SimulatedClock) -> None:
    """Commands that emit every event class but those in NEVER_EMITTED."""
    jan5, jan25, feb10 = date(2026, 1, 5), date(2026, 1, 25), date(2026, 2, 10)
    execute(ledger, SignAgreement(agreement_id="PKS-S", name="Schema", payer_id="PEMKOT-S",
                                  payer_type=PayerType.APBD_KOTA, fund_source=FundSource.APBD, region_code="61.72",
                                  first_period="2026-01", last_period="2026-12", budget_rp=10_000_000,
                                  effective_on=jan5))
    niks = [synthetic_nik("6172", i) for i in range(3)]
    for nik in niks[:2]:
        execute(ledger, EnrolMember(nik=nik, name="Nama Rahasia", address="Jl. Rahasia 1", agreement_id="PKS-S",
                                    region_code="61.72", role="PETANI", effective_on=jan5))
    execute(ledger, BillAgreement(agreement_id="PKS-S", period="2026-01", effective_on=jan5))
    execute(ledger, PayCohort(agreement_id="PKS-S", periods=["2026-01..2026-03"], amount_rp=2 * 16_800 * 3,
                              payment_reference="SP2D-1", effective_on=jan5))
    execute(ledger, AmendBudget(agreement_id="PKS-S", budget_rp=12_000_000, reason="APBD-P", effective_on=jan5))
    execute(ledger, ConfirmBudget(agreement_id="PKS-S", budget_rp=12_000_000, effective_on=jan5),
            Actor("second-owner", frozenset({Role.BUDGET_OWNER}), Scope("all")))  # 20 %: four eyes
    token = grant(ledger, "schema-dpo", Role.DATA_PROTECTION_OFFICER)
    execute(ledger, RevealMember(nik=niks[0], purpose="verifikasi skema pesan"), authenticate(ledger, token))
    execute(ledger, RotatePrincipalToken(name="schema-dpo", token_sha256="b" * 64), local_actor())
    execute(ledger, SetPrincipalPassword(name="schema-dpo", password_argon2=hash_password("kata sandi skema",
                                                                                          "schema-dpo")), local_actor())
    execute(ledger, RevokePrincipal(name="schema-dpo", reason="test over"), local_actor())
    execute(ledger, CarryInJht(nik=niks[0], amount_rp=1_000_000, source="earlier membership", effective_on=jan5))
    execute(ledger, RecordWorkforce(region_code="61.72", workforce=100_000, source="BPS", effective_on=jan5))
    clock.set_day(jan25)
    execute(ledger, SubmitClaim(nik=niks[0], claim_id="CLM-1", claim_type=ClaimType.JKM_DEATH,
                                event_date=date(2026, 1, 20), heir_name="Ahli Waris Rahasia", effective_on=jan25))
    execute(ledger, ApproveClaim(claim_id="CLM-1", effective_on=jan25))
    execute(ledger, PayClaim(claim_id="CLM-1", payment_reference="PAY-1", effective_on=jan25))
    execute(ledger, SettleRefund(claim_ref="CLM-1", payer_id="PEMKOT-S", amount_rp=2 * 16_800,
                                 payment_reference="RF-1", effective_on=jan25))
    statement_id = hashlib.sha256(b"statement").hexdigest()
    execute(ledger, ImportStatement(
        payer_id="PEMKOT-S", statement_id=statement_id, file_name="s.csv", file_format="csv",
        period_start=date(2026, 1, 1), period_end=date(2026, 1, 31), effective_on=jan25, lines=[
            StatementLine(line_no=1, reference="SP2D-9", booked_on=date(2026, 1, 20), amount_rp=33_600,
                          description="INV-PKS-S-2026-01"),
            StatementLine(line_no=2, reference="SP2D-10", booked_on=date(2026, 1, 21), amount_rp=777)]))
    execute(ledger, RunReconciliation(payer_id="PEMKOT-S", effective_on=jan25))
    execute(ledger, ResolveException(statement_id=statement_id, line_no=2, action="SUSPENSE", note="ask the payer",
                                     effective_on=jan25))
    execute(ledger, ForgetMember(nik=niks[1], effective_on=jan25))
    clock.set_day(date(2026, 1, 26))
    execute(ledger, EnrolMember(nik=niks[2], name="Nama Lain", agreement_id="PKS-S", region_code="61.72",
                                role="NELAYAN", effective_on=date(2026, 1, 26)))
    clock.set_day(feb10)
    execute(ledger, SubmitClaim(nik=niks[2], claim_id="CLM-2", claim_type=ClaimType.JKK_MEDICAL,
                                event_date=date(2026, 1, 28), medical_cost_rp=500_000, effective_on=feb10))  # held
    execute(ledger, PayContribution(nik=niks[2], periods=["2026-01"], amount_rp=16_800, payment_reference="SP2D-2",
                                    effective_on=feb10))  # reinstated, released
    execute(ledger, RejectClaim(claim_id="CLM-2", reason_code="CHECK", reason="test", effective_on=feb10))
    execute(ledger, ChangePayer(nik=niks[2], from_period="2026-02", effective_on=feb10))
    clock.set_day(date(2026, 7, 5))
    execute(ledger, Sweep(effective_on=date(2026, 7, 5)))
    play_bulk_events(ledger, clock)


class _Crash(Exception):
    pass


def play_bulk_events(ledger: Ledger, clock: SimulatedClock) -> None:
    """A cohort payment of three batches dies after its first; a member is paid elsewhere; the rerun completes:
    the BulkRun events and a REFERENCE_SHORTFALL exception (docs/rules.md#bulk-progress)."""
    on = date(2026, 7, 6)
    clock.set_day(on)
    execute(ledger, SignAgreement(agreement_id="PKS-B", name="Bulk", payer_id="PEMKOT-S",
                                  payer_type=PayerType.APBD_KOTA, fund_source=FundSource.APBD, region_code="61.72",
                                  first_period="2026-07", last_period="2026-12", budget_rp=10_000_000,
                                  effective_on=on))
    niks = [synthetic_nik("6172", 10 + i) for i in range(3)]
    for nik in niks:
        execute(ledger, EnrolMember(nik=nik, name="Nama", agreement_id="PKS-B", region_code="61.72", role="PETANI",
                                    effective_on=on))
    ledger.batch_size, write_rows = 1, ledger.store.write_rows

    def write_then_die(*args: Any, **kw: Any) -> None:
        write_rows(*args, **kw)
        raise _Crash

    pay = PayCohort(agreement_id="PKS-B", periods=["2026-07"], amount_rp=3 * 16_800, payment_reference="SP2D-B",
                    command_id="pay-b", effective_on=on)
    ledger.store.write_rows = write_then_die  # type: ignore[method-assign]
    with pytest.raises(_Crash):
        execute(ledger, pay)
    ledger.store.write_rows = write_rows  # type: ignore[method-assign]
    for i, nik in enumerate(niks):
        try:
            execute(ledger, PayContribution(nik=nik, periods=["2026-07"], amount_rp=16_800,
                                            payment_reference=f"SP2D-E{i}", effective_on=on))
            break
        except RuleViolation:
            continue
    assert execute(ledger, pay)["already_paid_elsewhere"] == 1


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EventMessage]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAMSOS_KEY_FILE", str(tmp_path_factory.mktemp("keys") / "k.key"))
        patch.delenv("JAMSOS_BROKER_NAMESPACE", raising=False)
        clock = SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB))
        ledger = bootstrap("memory://", clock=clock)
        try:
            play_every_event(ledger, clock)
            yield read_batch(ledger.store, 0, 10_000)
        finally:
            ledger.close()


def agreement_closed_message() -> EventMessage:
    event = AgreementClosed(originator_id=uuid.uuid4(), originator_version=9, timestamp=datetime.now(UTC),
                            recorded_at=datetime(2026, 12, 31, 9, tzinfo=WIB), effective_on=date(2026, 12, 31),
                            actor="test", command_id="close-1", reason="window ended")
    return event_message(10_000, event.originator_id, 9, "ledger.events:AgreementClosed", encode_state(event),
                         PARTITIONS)


def test_every_relayed_event_validates_against_its_schema(document: dict[str, Any],
                                                          relayed: list[EventMessage]) -> None:
    assert sorted({m.type for m in relayed} | NEVER_EMITTED) == EVENT_NAMES, "the scenario misses an event type"
    validator = message_validator(document, "EventMessage")
    schemas = document["components"]["schemas"]
    for message in [*relayed, agreement_closed_message()]:
        body = orjson.loads(message.model_dump_json())
        assert problems(validator, body) == [], message.type
        payload_schema = resolve(document, schemas[message.type]["properties"]["payload"]["$ref"])
        assert set(body["payload"]) <= set(payload_schema["properties"]), message.type


def test_a_wrong_event_message_fails_its_schema(document: dict[str, Any], relayed: list[EventMessage]) -> None:
    validator = message_validator(document, "EventMessage")
    paid = orjson.loads(next(m for m in relayed if m.type == "ContributionPaid").model_dump_json())
    wrong: list[dict[str, Any]] = [copy.deepcopy(paid) for _ in range(4)]
    wrong[0]["payload"]["amount_rp"] = "16.800"
    del wrong[1]["payload"]["payment_reference"]
    wrong[2]["type"] = "ContributionPaidLater"
    wrong[3]["type"] = "MemberDied"  # a real type whose payload this is not
    for body in wrong:
        assert problems(validator, body) != [], body


def test_an_event_stored_by_an_older_class_version_is_published_in_the_current_shape(
        document: dict[str, Any]) -> None:
    current = ContributionRefundDue(
        originator_id=uuid.uuid4(), originator_version=5, timestamp=datetime.now(UTC),
        recorded_at=datetime(2025, 6, 1, 9, tzinfo=WIB), effective_on=date(2025, 5, 20), actor="test",
        command_id="c-1", periods=["2025-06"], amount_rp=16_800, payer_id="PEMKAB", agreement_code="BKY",
        payment_references=["SP2D-1"], claim_ref="CLM-1", per_programme_rp={Programme.JKK: 10_000})
    v1 = orjson.loads(encode_state(current))
    del v1["per_programme_rp"], v1["class_version"]
    message = event_message(7, current.originator_id, 5, "ledger.events:ContributionRefundDue", orjson.dumps(v1),
                            PARTITIONS)
    assert message.payload["per_programme_rp"] == {}
    assert problems(message_validator(document, "EventMessage"), orjson.loads(message.model_dump_json())) == []


SIGN = {"kind": "agreement.sign", "command_id": "sign-s", "effective_on": "2026-01-05",
        "agreement_id": "PKS-B", "name": "Bus", "payer_id": "PEMKOT-B", "payer_type": "APBD_KOTA",
        "fund_source": "APBD", "region_code": "61.72", "first_period": "2026-01", "last_period": "2026-12",
        "budget_rp": 10_000_000}
COMMAND_BODIES: dict[str, dict[str, Any]] = {
    "a whole agreement.sign": SIGN,
    "a budget amendment of an unknown agreement (refused by the ledger, not by the schema)": {
        "kind": "agreement.amend_budget", "command_id": "a-1", "agreement_id": "NO-SUCH", "budget_rp": 5,
        "reason": "APBD-P"},
    "sweep with only its kind and id": {"kind": "sweep", "command_id": "s-1", "effective_on": "2026-01-05"},
    "no command_id": {k: v for k, v in SIGN.items() if k != "command_id"},
    "no kind": {k: v for k, v in SIGN.items() if k != "kind"},
    "an unknown kind": {**SIGN, "kind": "agreement.burn"},
    "an unknown field": {**SIGN, "colour": "red"},
    "a budget in Indonesian notation": {**SIGN, "budget_rp": "10.000.000"},
    "a budget with sen": {**SIGN, "budget_rp": 10_000_000.5},
    "a missing required field": {k: v for k, v in SIGN.items() if k != "payer_type"},
    "a payer type that does not exist": {**SIGN, "payer_type": "LOTTERY"},
    "an empty command_id": {**SIGN, "command_id": ""},
    "a cohort import of numbered rows": {"kind": "member.import", "command_id": "i-1", "agreement_id": "NO-SUCH",
                                         "rows": [[2, {"nik": synthetic_nik("6172", 1), "name": "N", "role": "R"}]]},
    "a cohort import row without its line number": {
        "kind": "member.import", "command_id": "i-2", "agreement_id": "NO-SUCH",
        "rows": [[{"nik": synthetic_nik("6172", 1), "name": "N", "role": "R"}]]},
    "a cohort import row with its items swapped": {
        "kind": "member.import", "command_id": "i-3", "agreement_id": "NO-SUCH",
        "rows": [[{"nik": synthetic_nik("6172", 1), "name": "N", "role": "R"}, 2]]},
}


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "k.key"))
    ledger = bootstrap("memory://", clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=WIB)))
    yield ledger
    ledger.close()


@pytest.mark.parametrize("case", sorted(COMMAND_BODIES))
def test_the_command_schema_accepts_exactly_what_the_consumer_accepts(document: dict[str, Any], ledger: Ledger,
                                                                      case: str) -> None:
    body = COMMAND_BODIES[case]
    valid = problems(message_validator(document, "CommandMessage"), body) == []
    auth = {"authorization": f"Bearer {grant(ledger, 'bus', Role.ADMIN)}"}
    reply, _ = process(ledger, orjson.dumps(body), headers=auth)
    malformed = reply.error is not None and reply.error.code == "invalid_input"
    assert valid is not malformed, f"{case}: schema valid={valid}, consumer said {reply.error}"
