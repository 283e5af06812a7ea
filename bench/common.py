"""What the benchmarks share: the machine and commit they ran on, and a private copy of a store to work on.

A benchmark that adds principals, sessions or events to a store it was given works on a copy
(:func:`copy_store`), so the store it was given is never written.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SESSIONS_SUFFIX = ".sessions.db"
"""The dashboard's sessions beside a SQLite store: not copied (a copy gets its own)."""


def machine() -> str:
    """The machine in one line: architecture, cores, Python, platform."""
    return (f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.platform(terse=True)}")


def commit() -> str:
    """The short commit of the working tree measured (``unknown`` outside git)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def copy_store(store: Path, folder: Path) -> Path:
    """Copy the SQLite store ``store`` (events with their WAL, views, member keys, the key file: every file named
    ``<stem>.*`` beside it but the sessions) into ``folder``; the copy's store path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = store.name.removesuffix(".db")
    copied = 0
    for path in sorted(store.parent.iterdir()):
        if path.is_file() and path.name.startswith(f"{stem}.") and SESSIONS_SUFFIX not in path.name:
            shutil.copy2(path, folder / path.name)
            copied += 1
    if not (folder / store.name).exists():
        raise FileNotFoundError(f"no store at {store}")
    return folder / store.name
