"""Layering rules, checked on the source: the write model imports no I/O, and events stay put."""

from __future__ import annotations

import ast
from pathlib import Path

import ledger.access_events as access_events_module
import ledger.events as events_module
from ledger.events import LedgerEvent

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_LEDGER = {
    "sqlite3", "sqlalchemy", "psycopg", "psycopg_pool", "faststream", "aio_pika", "nats", "redis", "typer",
    "click", "rich", "http", "urllib", "requests", "httpx", "socket", "fastapi", "starlette", "openpyxl", "csv",
    "commands", "projections", "eventstore", "subprocess", "threading", "asyncio",
}
FORBIDDEN_PREFIXES_IN_LEDGER = ("eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ledger_imports_no_database_broker_cli_or_http_module() -> None:
    offenders = []
    files = sorted((ROOT / "ledger").rglob("*.py"))
    assert len(files) >= 8
    for path in files:
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN_IN_LEDGER or name.startswith(FORBIDDEN_PREFIXES_IN_LEDGER):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


EVENT_CATALOGUES = {events_module.__name__, access_events_module.__name__}
"""The modules that hold stored event classes (ledger.events; principals and access in ledger.access_events)."""


def test_event_classes_live_in_their_stable_module() -> None:
    """Stored events are found by topic (module:Class): every event class must stay in its catalogue module."""
    def walk(cls: type) -> list[type]:
        return [cls, *[c for sub in cls.__subclasses__() for c in walk(sub)]]

    classes = walk(LedgerEvent)
    assert any(c.__module__ == access_events_module.__name__ for c in classes)
    for cls in classes:
        assert cls.__module__ in EVENT_CATALOGUES, f"{cls.__name__} defined in {cls.__module__}"


def test_every_event_is_applied_by_some_aggregate() -> None:
    source = "".join(p.read_text() for p in (ROOT / "ledger").glob("*.py")
                     if p.name not in ("events.py", "access_events.py"))
    for cls in LedgerEvent.__subclasses__():
        assert cls.__name__ in source, f"{cls.__name__} is never used outside ledger/events.py"


FOLDERS_BELOW: dict[str, set[str]] = {
    "ledger": set(),
    "eventstore": {"ledger"},
    "projections": {"ledger", "eventstore"},
    "commands": {"ledger", "eventstore", "projections"},
    "services": {"ledger", "eventstore", "projections", "commands"},
    "api": {"ledger", "eventstore", "projections", "commands"},
    "cli": {"ledger", "eventstore", "projections", "commands", "services", "api"},
    "bench": {"ledger", "eventstore", "projections", "commands", "services", "api", "cli"},
}
"""Which project folders each folder may import (at module level or inside a function). The write model is at the
bottom; reading (``projections``) never depends on the write side (``commands``); the faces (broker ``services``,
HTTP ``api``, the ``cli`` that starts both) stand on top, and nothing imports a face but a face above it."""


def test_folders_import_only_the_folders_below_them() -> None:
    offenders = []
    for folder, allowed in FOLDERS_BELOW.items():
        files = sorted((ROOT / folder).rglob("*.py"))
        if folder != "api":  # the HTTP face may not exist on every branch; every other folder must
            assert files, folder
        for path in files:
            for name in _imports(path):
                top = name.split(".")[0]
                if top in FOLDERS_BELOW and top != folder and top not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_folder_layers_have_no_loop() -> None:
    """The allowed-imports table itself is a strict order: no folder may (transitively) import itself."""
    def reach(folder: str, seen: frozenset[str]) -> None:
        for below in FOLDERS_BELOW[folder]:
            assert below not in seen, f"{below} imports back into {folder}"
            reach(below, seen | {below})

    for folder in FOLDERS_BELOW:
        reach(folder, frozenset({folder}))
