"""The contract check: schemathesis drives every operation of the served OpenAPI document against a real uvicorn
on loopback, over a seeded SQLite store and a seeded PostgreSQL store, and every answer must be what the document
promises — no 5xx, a documented status, the documented content type, a body of the documented schema, the
documented headers, and a schema-invalid request refused (4xx) rather than acted on.

Two passes per store: as an ``admin`` principal (bearer token: generated requests reach the handlers; the store
holds agreements, members, a payment, invoices, claims and a statement, so that many of them find something), and
as a stranger without a token (every authenticated operation must answer a documented 401; or 413 for a body
over the limit, or the router's 404 for a path that names no route).

The cases are generated from the application's OpenAPI document at collection time
(``schemathesis.openapi.from_dict`` + ``schema.parametrize()``: one test per operation and store) and sent to the
running server, which must serve that same document. (``schemathesis.pytest.from_fixture`` would load it from
the server itself, but schemathesis 4.32 sets ``Function._nodeid``, which pytest 9.2 no longer has.)

Bounded: at most :data:`EXAMPLES_MAX` generated requests per operation and pass (plus schemathesis' coverage
cases for the admin pass), hypothesis' deadline off (a slow first request on a loaded machine is not a failure),
a fixed seed (``JAMSOS_CONTRACT_SEED`` overrides it, to explore), and no example database.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from commands.authorise import local_actor
from commands.statement_file import read_statements
from commands.statement_import import import_statement_file
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.settings import Settings
from ledger.values import Role
from tests.api_support import bearer, served
from tests.conftest import PG_URL, grant, require_postgres
from tests.test_api_reads import PNK, SKW, build_world

pytestmark = pytest.mark.slow

SCHEMA_PATH = "/api/v1/openapi.json"
EXAMPLES_MAX = int(os.environ.get("JAMSOS_CONTRACT_EXAMPLES", "12"))
"""Generated requests per operation in the admin pass (hypothesis' ``max_examples``; coverage cases come on
top)."""
STRANGER_EXAMPLES_MAX = max(1, EXAMPLES_MAX // 2)
SEED = int(os.environ.get("JAMSOS_CONTRACT_SEED", "20260105"))
ADMIN = "contract-admin"
REQUEST_TIMEOUT_S = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
REJECTIONS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
"""What ``negative_data_rejection`` takes for a refusal: its default list and 413 — a body over the limit (a
``state_b64`` of more characters than allowed is also more bytes than a JSON body may have) is refused before it
is read, as documented."""
STARTED = datetime(2026, 1, 5, 8, tzinfo=WIB)


@dataclass
class Target:
    """A served, seeded store: its base URL, the admin's token, and what the pass sent (for the summary)."""

    store: str
    base_url: str
    token: str
    operations: dict[str, set[str]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, run: str, label: str, status: int) -> None:
        with self.lock:
            self.operations.setdefault(run, set()).add(label)
            self.statuses.setdefault(run, Counter())[status] += 1

    def summary(self) -> str:
        return "; ".join(f"{run}: {len(self.operations[run])} operations, {sum(counts.values())} requests, "
                         f"statuses {dict(sorted(counts.items()))}" for run, counts in sorted(self.statuses.items()))


def statement_file(folder: Path, payer: str) -> Path:
    """A bank statement of the payer's account, one credit line of the seeded payment's reference."""
    path = folder / f"rekening-{payer}.csv"
    path.write_text("# period: 2026-01-01..2026-01-05\n# account: 1234567890\n"
                    "sp2d_number,date,amount,account,description\n"
                    f"00001/SP2D/{payer},2026-01-05,16800,1234567890,iuran Januari\n", encoding="utf-8")
    return path


def seed(ledger: Ledger, folder: Path) -> str:
    """Both regions' agreements, members, payments, invoices, claims (``build_world``) and a statement of each
    payer; the admin principal; its token."""
    build_world(ledger, (PNK, SKW))
    for side in (PNK, SKW):
        read = read_statements(statement_file(folder, side.payer))
        summary, failure = import_statement_file(ledger, local_actor(), read, side.payer,
                                                 f"rekening-{side.payer}.csv")
        assert failure is None and summary["imported"] == 1, summary
    return grant(ledger, ADMIN, Role.ADMIN)


@pytest.fixture(scope="module")
def contract_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One key file for the module's stores (their ledgers are opened and served for many tests)."""
    folder = tmp_path_factory.mktemp("contract")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAMSOS_KEY_FILE", str(folder / "contract.key"))
        yield folder


@pytest.fixture(scope="module")
def pg_module_url() -> Iterator[str]:
    """A PostgreSQL store URL with a fresh schema, for the module (``pg_schema_url``, once)."""
    require_postgres()
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={name}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, contract_key: Path) -> Iterator[Target]:
    """A seeded store served by a real uvicorn on loopback (SQLite file, or a fresh PostgreSQL schema), serving
    the very document the cases are generated from."""
    url = (f"sqlite:///{contract_key / f'contract-{uuid.uuid4().hex[:8]}.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_module_url")))
    ledger = bootstrap(url, clock=SimulatedClock(STARTED))
    started = time.perf_counter()
    try:
        token = seed(ledger, contract_key)
        with served(ledger) as base:
            served_document = httpx.get(base + SCHEMA_PATH, timeout=REQUEST_TIMEOUT_S).json()
            assert served_document == DOCUMENT, "the served OpenAPI document is not the one the cases come from"
            target = Target(request.param, base, token)
            yield target
    finally:
        ledger.close()
    print(f"\ncontract {request.param} ({time.perf_counter() - started:.1f} s): {target.summary()}")


def contract_config(examples: int, coverage: bool) -> schemathesis.Config:
    """The examples, fuzzing and (if ``coverage``) coverage phases — not the stateful one: each operation alone —
    with positive and negative data, no generated security parameters (each test chooses the token), a fixed
    seed, no example database."""
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": examples, "with-security-parameters": False,
                       "database": "none"},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": coverage}},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
        "request-timeout": REQUEST_TIMEOUT_S,
    })


DOCUMENT = create_app(Settings(store="memory://")).openapi()
"""The generated OpenAPI document (``/api/v1/openapi.json``; ``docs/openapi.json`` is the committed copy). The
cases are generated from it at collection time; every request goes to the running server, which must serve the
same document (checked in :func:`target`)."""
STREAMS = sorted(path for path, item in DOCUMENT["paths"].items() for op in item.values()
                 if isinstance(op, dict) and op.get("x-stream"))
"""Routes whose response never ends by itself (the event stream): a served request would wait for ever, so the
admin pass leaves them out; their statuses, content type and refusals are checked in tests/test_api_events.py, and
the stranger pass still asks them (it hears 401 at once)."""
admin_schema = schemathesis.openapi.from_dict(DOCUMENT, config=contract_config(EXAMPLES_MAX, coverage=True)
                                              ).exclude(path=STREAMS)
stranger_schema = schemathesis.openapi.from_dict(DOCUMENT, config=contract_config(STRANGER_EXAMPLES_MAX,
                                                                                  coverage=False))
"""A stranger's requests all end at the token check: fewer of them, and no coverage phase (its boundary values
of every field would all hear the same 401)."""
ADMIN_SETTINGS = hypothesis.settings(max_examples=EXAMPLES_MAX, deadline=None, database=None,
                                     suppress_health_check=list(HealthCheck))
STRANGER_SETTINGS = hypothesis.settings(ADMIN_SETTINGS, max_examples=STRANGER_EXAMPLES_MAX)


def _keep_the_admin(case: Any) -> None:
    """A generated request must not revoke the admin or rotate its token (the rest of the pass needs it)."""
    if case.path_parameters and case.path_parameters.get("name") == ADMIN:
        case.path_parameters["name"] = "someone-else"


@admin_schema.parametrize()
@hypothesis.settings(ADMIN_SETTINGS)
def test_every_operation_keeps_its_contract_for_an_admin(case: Any, target: Target) -> None:
    _keep_the_admin(case)
    response = case.call_and_validate(base_url=target.base_url, headers=bearer(target.token), checks=CHECKS,
                                      timeout=REQUEST_TIMEOUT_S)
    target.count("admin", case.operation.label, response.status_code)


@stranger_schema.parametrize()
@hypothesis.settings(STRANGER_SETTINGS)
def test_a_stranger_hears_a_documented_401_everywhere(case: Any, target: Target) -> None:
    if case.headers:
        case.headers.pop("Authorization", None)
    response = case.call_and_validate(base_url=target.base_url, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
    target.count("stranger", case.operation.label, response.status_code)
    if case.operation.definition.raw.get("x-roles") and case.method.upper() == case.operation.method.upper():
        assert response.status_code in STRANGER_STATUSES or unrouted(response), \
            f"{case.operation.label}: {response.status_code} {response.text[:300]}"


STRANGER_STATUSES = (401, 413)
"""What a stranger hears from an operation: 401 — or 413 for a body over the limit, refused before anything is
read (the token too): it tells nothing about the ledger."""


def unrouted(response: Any) -> bool:
    """The router's own 404: the path (a generated path parameter holding ``/``, or empty) names no route, so no
    route's guard was reached and nothing about the ledger is told."""
    if response.status_code != 404:
        return False
    body = response.json()
    return bool(body.get("code") == "not_found" and body.get("field") == "path")
