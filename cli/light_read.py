"""The read-only path of `jamsos report` and `jamsos agreement show`: a registers report (members, balances, claims,
coverage) or an agreement's document read from the serving tables of a SQLite store without loading the write side
— no event-sourcing application, no pydantic, no command module — and authenticated and authorised as
:func:`cli.common.read_with` does it, with the same refusals.

Who acts: the principal of ``--token`` (its roles, scope, current token hash, expiry and revocation read from its
snapshot, ``projections.read_only``), or the local operating-system user; what it may read: the checks of
:mod:`commands.read_access`, which :mod:`commands.authorise` makes too; a scoped principal's agreement is looked up
in the registers (at the log's head, as the full path's store would give it). Then the report itself is
:func:`projections.register_reports.registers_report`, as :func:`projections.reports.build_report` makes it, or
the agreement :func:`projections.agreement_figures.agreement_document`, as ``projections.ledger_views`` makes it.

The path is taken only when the full one would do nothing but read: a SQLite store whose registers are at the log's
head and schema, its files and key table as the full open accepts them, no ``--as-of`` (an in-memory rebuild), no
setting of the environment this module does not read exactly as ``eventstore.settings`` does. Anything else — and
anything found stale while reading, such as a principal with events newer than its snapshot — returns None before
anything is printed, and the caller takes the full path, which catches up, creates or refuses as it always did.

Invariant: for every input the output (stdout, stderr, exit code, files) is the full path's; ``bench/cli_golden.py``
compares whole commands byte for byte, tests/test_light_read.py the refusals and the imports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from cli.common import fail, parse_date
from cli.root import SESSION
from commands.read_access import Actor, Grant, check_read, local_actor, token_actor, token_name
from eventstore.clock import WIB, Clock, SimulatedClock, SystemClock
from ledger.business_time import known_region
from ledger.errors import LedgerError
from ledger.scope import principal_id_for
from ledger.values import Role
from projections.read_only import DEFAULT_STORE, NotServing, ServingStore, open_serving, sqlite_paths
from projections.register_reports import REPORTS, Report, registers_report

T = TypeVar("T")

HANDLED_ENV = frozenset({"JAMSOS_STORE", "JAMSOS_TOKEN", "JAMSOS_KEY_FILE", "JAMSOS_CLOCK"})
"""The ``JAMSOS_*`` variables this path reads as the full one does (the store and the token through their options,
the key file, a frozen clock). Any other (``JAMSOS_VIEWS``, ``JAMSOS_MASTER_KEY``, a library setting prefixed by
the application's name, a bad ``JAMSOS_HTTP_PORT`` that would refuse every command...) sends the read to the full
path; so does one of these spelt in another case (pydantic-settings reads them case-insensitively)."""
IGNORED_ENV = frozenset({"JAMSOS_TEST_AT", "JAMSOS_TEST_POSTGRES_URL", "JAMSOS_REQUIRE_SERVICES",
                         "JAMSOS_PROPERTY_EXAMPLES"})
"""Variables of the test suite, which no command reads."""
LIBRARY_ENV = frozenset({"CIPHER_TOPIC", "CIPHER_KEY", "COMPRESSOR_TOPIC"})
"""Settings of the event-sourcing library that change how the store is opened (an application-wide cipher)."""
CLOCK_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
"""The ``JAMSOS_CLOCK`` instants read here (ISO 8601, as ``datetime.fromisoformat`` and pydantic both read them
alike); any other spelling goes to the full path."""


def environment_handled(env: Mapping[str, str]) -> bool:
    """Whether every setting in ``env`` that the full path reads is one this path reads the same way."""
    for key in env:
        upper = key.upper()
        if upper in LIBRARY_ENV:
            return False
        if upper.startswith("JAMSOS_") and key not in HANDLED_ENV and upper not in IGNORED_ENV:
            return False
    return True


def clock_from(env: Mapping[str, str]) -> Clock:
    """The clock ``eventstore.bootstrap.clock_from_env`` makes of ``JAMSOS_CLOCK`` (:class:`NotServing` for a
    spelling not read here)."""
    text = env.get("JAMSOS_CLOCK")
    if text is None:
        return SystemClock()
    if not CLOCK_PATTERN.fullmatch(text):
        raise NotServing("JAMSOS_CLOCK is not spelt as read here")
    fixed = datetime.fromisoformat(text)
    return SimulatedClock(fixed if fixed.tzinfo else fixed.replace(tzinfo=WIB))


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def grant_of(state: dict[str, Any] | None) -> Grant | None:
    """A principal's snapshot state (``ledger.principal.PrincipalState`` as JSON) as the :class:`Grant` its token
    is checked against; None when it never existed."""
    if state is None:
        return None
    try:
        return Grant(tuple(Role(r) for r in state["roles"]), state["scope"], state["token_sha256"],
                     _day(state["token_expires_on"]), _day(state["revoked_on"]))
    except (KeyError, TypeError, ValueError):
        raise NotServing("a principal's snapshot is not of the shape read here") from None


def acting(serving: ServingStore, token: str | None, clock: Clock) -> Actor:
    """:func:`cli.common.current_actor` over the serving store: the principal of ``token``, or the local user."""
    if not token:
        return local_actor()
    name = token_name(token)
    return token_actor(name, token, grant_of(serving.snapshot_state(principal_id_for(name), "Principal")),
                       clock.now)


@dataclass(frozen=True)
class Reach:
    """The payers and regions an agreement concerns (``commands.subject.agreement_subject``)."""

    payer_ids: frozenset[str] = frozenset()
    region_codes: frozenset[str] = field(default_factory=frozenset)


def agreement_reach(serving: ServingStore, code: str, clock: Clock) -> Reach:
    """What agreement ``code`` concerns, from the registers: its payer and its region (if its zone is known);
    nothing for an unknown agreement (only the ``all`` scope reaches it)."""
    t = serving.registers.table("agreements")
    assert serving.engine is not None
    with serving.engine.connect() as conn:
        row = conn.execute(t.select().with_only_columns(t.c.payer_id, t.c.region_code)
                           .where(t.c.code == code)).first()
    if row is None:
        return Reach()
    region = known_region(row.region_code, clock.now())
    return Reach(frozenset({row.payer_id}), frozenset({region}) if region else frozenset())


def light_report(store: str | None, name: str, on: str | None, as_of: str | None, agreement_id: str | None,
                 period: str | None, env: Mapping[str, str] = os.environ) -> Report | None:
    """Report ``name`` on the read-only path, as ``jamsos report`` makes it (refusals are printed and exit, as
    there); None when this path cannot make it exactly so: the caller then takes the full path."""
    if name not in REPORTS:
        return None

    def report(serving: ServingStore, now: datetime) -> Report:
        assert serving.engine is not None
        engine, registers, position = serving.engine, serving.registers, serving.position
        return registers_report(name, parse_date(on), None, now, agreement_id, period,
                                lambda: (registers, engine, position))

    return _light_read(store, f"report.{name}", as_of, agreement_id, report, env)


def light_agreement(store: str | None, agreement_id: str, on: str | None, as_of: str | None,
                    env: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    """``jamsos agreement show`` on the read-only path (:func:`projections.agreement_figures.agreement_document`
    over the serving registers, as the full path reads its caught-up ones); None when this path cannot."""
    from projections.agreement_figures import agreement_document

    def document(serving: ServingStore, now: datetime) -> dict[str, Any]:
        assert serving.engine is not None
        return agreement_document(serving.engine, serving.registers, agreement_id, parse_date(on), now, None)

    return _light_read(store, "agreement.show", as_of, agreement_id, document, env)


def _light_read(store: str | None, read: str, as_of: str | None, agreement_id: str | None,
                fn: Callable[[ServingStore, datetime], T], env: Mapping[str, str]) -> T | None:
    """``fn`` over the serving store once the acting principal may make ``read`` (of ``agreement_id``), as
    :func:`cli.common.read_with` allows it; None (nothing printed) when the full path must make it: an ``--as-of``
    (an in-memory rebuild), an empty agreement id, a setting not read here, a store not serving its head."""
    if as_of is not None or agreement_id == "" or not environment_handled(env):
        return None
    try:
        clock = clock_from(env)
        serving = open_serving(sqlite_paths(store or DEFAULT_STORE, env.get("JAMSOS_KEY_FILE") or None))
    except NotServing:
        return None
    try:
        actor = acting(serving, SESSION["token"], clock)
        check_read(actor, read, lambda: agreement_reach(serving, agreement_id or "", clock),
                   agreement_id=agreement_id)
        return fn(serving, clock.now())
    except NotServing:
        return None
    except LedgerError as err:
        fail(err)
    finally:
        serving.close()
    return None  # pragma: no cover (fail exits)
