"""The dashboard in a real browser: Debian's ``chromium`` driven by Playwright for Python, against a real
``jamsos serve`` (a separate process, on loopback) over a small demo store on SQLite or PostgreSQL.

How a browser test reads::

    pytestmark = pytest.mark.browser

    def test_something(site: Site, browser: Browser, shots: Shots) -> None:
        page = signed_in(browser, site, FINANCE_BKY)        # through the sign-in form
        page.goto(site.url("/overview"))
        assert_charts_drawn(page)
        assert_accessible(page)                           # axe-core in the page: no serious or critical violation
        shots.take(page, "overview")                      # build/browser/<test>/overview.png

``site`` is one server per store kind (``sqlite``, ``postgres``) and test session, with the users of
:data:`USERS` (password :data:`PASSWORD`), the clock frozen at :data:`~tests.web_support.AFTER_DEMO`. Tests that
write (upload, resolve) use ``fresh_site`` instead: its own copy, served for the one test.

Under CI (``CI`` or ``JAMSOS_REQUIRE_SERVICES=1``) a missing chromium FAILS the tests; elsewhere they skip.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page

from cli.seed_demo import run_demo
from commands.authorise import local_actor, new_token
from commands.handlers import execute
from commands.messages import AddPrincipal, SetPrincipalPassword
from commands.passwords import hash_password
from eventstore.bootstrap import bootstrap
from eventstore.clock import SimulatedClock
from ledger.principal import Principal, principal_id_for
from ledger.values import Role
from tests.api_support import free_port
from tests.conftest import PG_URL, SERVICES_REQUIRED, require_postgres
from tests.web_support import AFTER_DEMO, DEMO_SCALE, copy_demo

CHROMIUM = os.environ.get("JAMSOS_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "browser_vendor" / "axe.min.js"
OUT = Path(os.environ.get("JAMSOS_BROWSER_OUT", Path(__file__).parent.parent / "build" / "browser"))
SERVER_START_TIMEOUT_S = 30.0
PASSWORD = "kata-sandi-uji-panjang-2026"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    scope: str


FINANCE_BKY = User("keuangan.bengkayang", Role.FINANCE, "payer:PEMKAB-BKY")
AUDITOR = User("auditor.bpk", Role.AUDITOR, "all")
PLANNER_SKW = User("perencana.singkawang", Role.BUDGET_OWNER, "region:61.72")
PLANNER = User("perencana.nasional", Role.BUDGET_OWNER, "all")
CLAIMS = User("petugas.klaim", Role.CLAIMS_OFFICER, "all")
OPERATOR = User("operator.data", Role.OPERATOR, "all")
USERS = (FINANCE_BKY, AUDITOR, PLANNER_SKW, PLANNER, CLAIMS, OPERATOR)


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
    if SERVICES_REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Site:
    """A ``jamsos serve`` process on loopback over a demo store."""

    base: str
    store: str
    kind: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def add_users(store: str, key_file: Path) -> None:
    """The :data:`USERS` (the demo's own web users, and more), with :data:`PASSWORD`, added by the server's local
    admin (as `jamsos principal add` and `jamsos principal set-password` do)."""
    with key_file_env(key_file):
        ledger = bootstrap(store, clock=SimulatedClock(AFTER_DEMO), create=False)
    try:
        for user in USERS:
            existing = ledger.store.load(Principal, principal_id_for(user.name))
            if existing.exists:  # one of the demo's own web users: it gets the tests' password
                assert existing.state.scope == user.scope and existing.state.roles == [user.role], user
            else:
                execute(ledger, AddPrincipal(name=user.name, roles=[user.role], scope=user.scope,
                                             token_sha256=new_token(user.name)[1]), local_actor())
            execute(ledger, SetPrincipalPassword(name=user.name, password_argon2=hash_password(PASSWORD, user.name)),
                    local_actor())
    finally:
        ledger.close()


def serve(store: str, key_file: Path, folder: Path, kind: str) -> Site:
    """Start ``jamsos serve`` on a free port over ``store``; wait until it answers ``/readyz``."""
    port = free_port()
    env = {**os.environ, "JAMSOS_KEY_FILE": str(key_file), "JAMSOS_CLOCK": AFTER_DEMO.isoformat(),
           "JAMSOS_WEB_SESSIONS": f"sqlite:///{folder / 'sessions.db'}"}
    jamsos = Path(sys.executable).parent / "jamsos"
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - the server's own log, kept beside the store
    process = subprocess.Popen([str(jamsos), "serve", "--store", store, "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError as err:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                served_log = (folder / "serve.log").read_text()[-2000:]
                raise AssertionError(f"jamsos serve did not start: {served_log}") from err
            time.sleep(0.2)
    return Site(base, store, kind, process, env)


_TEMPLATES: dict[str, tuple[str, Path]] = {}
"""Per store kind, the process's template: the demo with :data:`USERS` added (built once; every site is a copy)."""


def template_store(kind: str, demo_folder: Path) -> tuple[str, Path]:
    """The template of ``kind`` (see :data:`_TEMPLATES`), built on first use: SQLite, a copy of the session's demo
    in a folder of its own; PostgreSQL, the demo played into a database of its own (a copy is then
    ``CREATE DATABASE … TEMPLATE``: a file copy in the server, not a replay of the demo)."""
    if kind not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix=f"jamsos-site-template-{kind}-"))
        atexit.register(shutil.rmtree, folder, True)
        if kind == "sqlite":
            path = copy_demo(demo_folder, folder)
            store, key_file = str(path), path.with_suffix(".key")
        else:
            require_postgres()
            folder.mkdir(parents=True, exist_ok=True)
            database = f"jamsos_tpl_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            atexit.register(drop_database, database)
            store, key_file = database_url(database), folder / "jamsos.key"
            with key_file_env(key_file):
                run_demo(store, scale=DEMO_SCALE, quiet=True)
        add_users(store, key_file)
        _TEMPLATES[kind] = (store, key_file)
    return _TEMPLATES[kind]


def database_url(database: str) -> str:
    """:data:`PG_URL` with its database replaced by ``database`` (and no schema)."""
    base = PG_URL.split("?", 1)[0]
    return f"{base.rsplit('/', 1)[0]}/{database}"


def drop_database(database: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def demo_store(kind: str, folder: Path, demo_folder: Path) -> tuple[str, Path]:
    """A copy of the template of ``kind`` (:func:`template_store`) for one site in ``folder``: its URL and key
    file."""
    template, template_key = template_store(kind, demo_folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        path = copy_demo(Path(template).parent, folder)
        return str(path), path.with_suffix(".key")
    database = f"jamsos_site_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template.rsplit("/", 1)[1]}"')
    key_file = folder / "jamsos.key"
    shutil.copy2(template_key, key_file)
    return database_url(database), key_file


@contextmanager
def key_file_env(key_file: Path) -> Iterator[None]:
    """``JAMSOS_KEY_FILE`` set to ``key_file`` for a while (the stores' key files are named by the environment)."""
    before = os.environ.get("JAMSOS_KEY_FILE")
    os.environ["JAMSOS_KEY_FILE"] = str(key_file)
    try:
        yield
    finally:
        if before is None:
            del os.environ["JAMSOS_KEY_FILE"]
        else:
            os.environ["JAMSOS_KEY_FILE"] = before


def drop_store(store: str) -> None:
    """Drop a site's PostgreSQL database (a SQLite store goes with its temporary folder)."""
    if store.startswith("postgresql"):
        drop_database(store.rsplit("/", 1)[1])


def start_site(kind: str, folder: Path, demo_folder: Path) -> Site:
    store, key_file = demo_store(kind, folder, demo_folder)
    return serve(store, key_file, folder, kind)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         demo_folder: Path) -> Iterator[Site]:
    """One server per store kind for the session (tests that only read)."""
    require_chromium()
    kind = str(request.param)
    served = start_site(kind, tmp_path_factory.mktemp(f"site-{kind}"), demo_folder)
    yield served
    served.stop()
    drop_store(served.store)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_site(request: pytest.FixtureRequest, tmp_path: Path, demo_folder: Path) -> Iterator[Site]:
    """A server over a store of its own, for one test that writes."""
    require_chromium()
    kind = str(request.param)
    served = start_site(kind, tmp_path / f"site-{kind}", demo_folder)
    yield served
    served.stop()
    drop_store(served.store)


_BROWSER: list[Browser] = []
"""The one chromium of the process: Playwright's sync API runs once per thread (a second ``sync_playwright()`` in
the same process fails, "Sync API inside the asyncio loop"). Test modules must not import this plugin's fixtures
(``browser``, ``site``, ``fresh_site``, ``shots``): an imported fixture becomes the module's own, and each module
would then start its own servers."""


@pytest.fixture(scope="session")
def browser() -> Browser:
    require_chromium()
    if not _BROWSER:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        _BROWSER.append(playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"]))
        atexit.register(playwright.stop)
        atexit.register(_BROWSER[0].close)  # registered last, run first
    return _BROWSER[0]


def signed_in(browser: Browser, site: Site, user: User) -> Page:
    """A new browser context (its own cookies) signed in as ``user`` through the sign-in form; its page."""
    page = new_page(browser)
    page.goto(site.url("/login"))
    page.fill("#login-name", user.name)
    page.fill("#login-password", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"{user.name} could not sign in: {page.inner_text('main')[:300]}"
    return page


def new_page(browser: Browser) -> Page:
    # bypass_csp: only so that the test may inject axe-core; the pages' own policy is checked in tests/test_web_auth.py
    context = browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 900},
                                  locale="id-ID", timezone_id="Asia/Jakarta")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


SERIOUS = ("serious", "critical")


def assert_accessible(page: Page) -> None:
    """axe-core (WCAG 2 A/AA rules) in the page: no serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', "
        "'wcag21aa', 'best-practice']}})")
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in result["violations"] if v["impact"] in SERIOUS]
    assert not bad, f"axe-core on {page.url}: {bad}"


def assert_charts_drawn(page: Page, at_least: int = 1) -> int:
    """Every chart of the page is drawn (its canvas holds pixels); how many there are."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-chart]')].every(c => c.dataset.drawn === 'true')")
    drawn = page.evaluate("""() => [...document.querySelectorAll('canvas[data-chart]')].map(c => {
        const blank = document.createElement('canvas'); blank.width = c.width; blank.height = c.height;
        return c.width > 0 && c.height > 0 && c.toDataURL() !== blank.toDataURL(); })""")
    assert len(drawn) >= at_least and all(drawn), f"charts on {page.url}: {drawn}"
    return len(drawn)


class Shots:
    """Screenshots of one test under build/browser/<test name>/ (kept by CI as the test's output)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str, full_page: bool = True) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 1000
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    return Shots(OUT / name)
