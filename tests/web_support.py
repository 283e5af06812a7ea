"""The dashboard in tests: a small demo store (built once per test session and worker, copied for tests that
write), the app in process on it with the clock frozen after the demo's last day, and a signed-in browser-like
client.

``sign_in`` opens a session for a principal directly in the session table (the page tests test pages); the sign-in
form itself — passwords, lockout, CSRF — is tested in tests/test_web_auth.py and in the browser tests.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.seed_demo import run_demo
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.clock import WIB, SimulatedClock
from eventstore.settings import Settings
from ledger.values import Role
from tests.conftest import grant

DEMO_SCALE = 0.02
"""Big enough for every seed rule to show (Bengkayang over budget, Singkawang's drop), small enough to build in a
few seconds."""
AFTER_DEMO = datetime(2026, 12, 1, 10, 0, tzinfo=WIB)
"""The pages' "now": the morning after the demo's last day (frozen: a page must not depend on the hour)."""


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a demo store at :data:`DEMO_SCALE` (read it, or copy it with :func:`copy_demo`)."""
    folder = tmp_path_factory.mktemp("web-demo")
    run_demo(str(folder / "jamsos.db"), scale=DEMO_SCALE, quiet=True)
    return folder


def copy_demo(source: Path, target: Path) -> Path:
    """A copy of the demo store's files (events, views, keys, key file) in ``target``; its store path."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.name.startswith("jamsos."):
            shutil.copy2(path, target / path.name)
    return target / "jamsos.db"


def open_demo(store: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(store.with_suffix(".key")))
    return bootstrap(str(store), clock=SimulatedClock(AFTER_DEMO), create=False)


@pytest.fixture
def demo_ledger(demo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A copy of the demo store, open, its clock frozen at :data:`AFTER_DEMO` (a test may write to it)."""
    ledger = open_demo(copy_demo(demo_folder, tmp_path / "store"), monkeypatch)
    yield ledger
    ledger.close()


def web_client(ledger: Ledger) -> TestClient:
    """The app in process on ``ledger`` (sessions in memory); redirects are not followed, so tests see them."""
    app = create_app(Settings(store="memory://", web_sessions="sqlite://"), ledger=ledger)
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def add_user(ledger: Ledger, name: str, *roles: Role, scope: str = "all") -> str:
    """A principal for a page test (its token, unused by pages)."""
    return grant(ledger, name, *roles, scope=scope)


def sign_in(client: TestClient, name: str) -> str:
    """Give ``client`` a live session of principal ``name``; the session's CSRF token."""
    app = client.app
    secret, session = app.state.web_sessions.open(name, app.state.ledger.clock.now().astimezone(UTC))  # type: ignore[attr-defined]
    client.cookies.set("jamsos_session", secret)
    return str(session.csrf_token)


CSRF_IN_FORM = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF_IN_FORM.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
