"""What the benchmarks share: the machine and commit they ran on, and a private copy of a store to work on.

A benchmark that adds principals, sessions or events to a store it was given works on a copy
(:func:`copy_store`), so the store it was given is never written.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
"""Every benchmark run's figures, one JSON file per run (:func:`save_result`)."""
DEFAULT_DEMO = REPO / "demo" / "jamsos.db"
"""The store of ``make demo``."""
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


def load() -> list[float]:
    """The machine's load averages over 1, 5 and 15 minutes (a busy machine makes a slow run)."""
    return [round(x, 2) for x in os.getloadavg()]


def save_result(bench: str, figures: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Write one run's ``figures`` as ``<folder>/<bench>-<UTC time>-<commit>.json``, with the commit, the machine,
    its load and the date beside them; the file's path."""
    now = datetime.now(UTC)
    record = {"bench": bench, "commit": commit(), "date": now.isoformat(timespec="seconds"), "machine": machine(),
              "load": load(), **figures}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bench}-{now:%Y%m%dT%H%M%SZ}-{record['commit']}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@contextmanager
def demo_store(given: str | None) -> Iterator[Path]:
    """The store to use: ``given``, else ``demo/jamsos.db``, else a fresh ``jamsos demo`` (removed after)."""
    if given:
        yield Path(given)
        return
    if DEFAULT_DEMO.exists():
        yield DEFAULT_DEMO
        return
    folder = Path(tempfile.mkdtemp(prefix="jamsos-bench-demo-"))
    try:
        print(f"building a demo store in {folder} (about 70 s) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "cli", "demo", "--store", str(folder / "jamsos.db"), "--json"],
                       cwd=folder, check=True, stdout=subprocess.DEVNULL)
        yield folder / "jamsos.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


TRAMPOLINE = ("import os, subprocess, sys\n"
              "proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)\n"
              "_, status, usage = os.wait4(proc.pid, 0)\n"
              "os.write(int(sys.argv[1]), f'{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}'.encode())\n")
"""Runs the measured command as its own child and reports that child's peak RSS (KB) and exit code on the pipe
whose descriptor it is given. A
process's ``ru_maxrss`` starts at the RSS of the process that forked it (Linux keeps the larger across exec), so a
command forked straight from this one, which may hold most of a gigabyte after an ingest, would report at least
that; forked from the small trampoline, it reports its own. The wall time then includes the trampoline's own
start (a bare Python start-up, ~20-50 ms here)."""


def child(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``argv``; its wall seconds, peak RSS (from wait4, through :data:`TRAMPOLINE`) and exit code."""
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", TRAMPOLINE, str(write_end), *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, pass_fds=(write_end,), cwd=cwd, env=env)
    os.close(write_end)
    stderr = proc.stderr.read().decode()[-300:] if proc.stderr else ""
    proc.wait()
    wall_s = time.perf_counter() - started
    with os.fdopen(read_end, "rb") as reported:
        maxrss_kb, code = (int(x) for x in reported.read().split())
    return {"wall_s": round(wall_s, 3), "peak_rss_bytes": maxrss_kb * 1024, "exit": code,
            **({"stderr": stderr} if code else {})}
