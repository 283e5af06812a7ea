"""Where a dashboard page's time goes: the app in process (FastAPI ``TestClient``) on a copy of the demo store,
the clock frozen as in :mod:`bench.web`, one principal of :data:`bench.web.USERS` signed in, and each page read
under cProfile — its first read (after a write: the report cache holds nothing for the new head) and one read
again. Prints each read's time and the functions with the most cumulative time, the project's own first.

Run on demand (this is not a test)::

    python -m bench.web_profile [--demo-store demo/jamsos.db] [--as bench.auditor] [--top 25] PAGE...
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from bench.common import REPO, copy_store, demo_store
from bench.web import USERS, Writer, parse
from eventstore.settings import Settings


class ThreadProfiler:
    """A cProfile that follows the request into the thread pool: FastAPI runs a sync route and its sync
    dependencies there (``run_in_threadpool``), where a profiler enabled in the calling thread does not see them.
    While :attr:`active`, each such call runs with :attr:`profile` enabled in its own thread."""

    def __init__(self) -> None:
        self.profile = cProfile.Profile()
        self.active = False

    def install(self) -> None:
        import fastapi.dependencies.utils
        import fastapi.routing
        from starlette.concurrency import run_in_threadpool

        async def profiled(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            def run(*a: Any, **k: Any) -> Any:
                if not self.active:
                    return func(*a, **k)
                self.profile.enable()
                try:
                    return func(*a, **k)
                finally:
                    self.profile.disable()

            return await run_in_threadpool(run, *args, **kwargs)

        setattr(fastapi.routing, "run_in_threadpool", profiled)  # noqa: B010 (mypy: not an exported name)
        setattr(fastapi.dependencies.utils, "run_in_threadpool", profiled)  # noqa: B010


def profile_pages(store: Path, pages: list[str], user: str, top: int, out_dir: Path | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="jamsos-bench-web-profile-"))
    previous = os.environ.get("JAMSOS_KEY_FILE")
    try:
        copy = copy_store(store, folder)
        os.environ["JAMSOS_KEY_FILE"] = str(copy.with_suffix(".key"))
        writer = Writer(copy)
        passwords = writer.add_users()
        profiler = ThreadProfiler()
        profiler.install()
        app = create_app(Settings(store=str(copy), web_sessions="sqlite://"), ledger=writer.ledger)
        with TestClient(app, follow_redirects=False) as http:
            form = http.get("/login")
            answer = http.post("/login", data={"name": user, "password": passwords[user], "next": "/",
                                               "csrf_token": parse(form.text).hidden["csrf_token"]})
            assert answer.status_code == 303, answer.text[:300]
            for page in pages:
                for label in ("first read", "read again"):
                    if label == "first read":
                        writer.bump()
                    profiler.profile, profiler.active = cProfile.Profile(), True
                    started = time.perf_counter()
                    response = http.get(page)
                    profiler.active = False
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    print(f"\n## {page} as {user}, {label}: HTTP {response.status_code}, {elapsed_ms:.0f} ms "
                          f"(Server-Timing {response.headers.get('server-timing')})")
                    if out_dir is not None:
                        out_dir.mkdir(parents=True, exist_ok=True)
                        name = page.strip("/").replace("/", "_").replace("?", "_")[:80] or "root"
                        profiler.profile.dump_stats(out_dir / f"{name}-{label.replace(' ', '-')}.prof")
                    if label == "first read":
                        print_top(profiler.profile, top)
        writer.ledger.close()
    finally:
        if previous is None:
            os.environ.pop("JAMSOS_KEY_FILE", None)
        else:
            os.environ["JAMSOS_KEY_FILE"] = previous
        shutil.rmtree(folder, ignore_errors=True)


def print_top(profiler: cProfile.Profile, top: int) -> None:
    """The ``top`` functions of the project (not the libraries) by cumulative time, then the ``top`` of all by
    their own time."""
    for title, restriction, sort in (("project functions by cumulative time", str(REPO), "cumulative"),
                                     ("all functions by own time", "", "tottime")):
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs() if not restriction else pstats.Stats(
            profiler, stream=text)
        stats.sort_stats(sort)
        if restriction:
            stats.print_stats(rf"^{restriction}/(?!\.venv)", top)
        else:
            stats.print_stats(top)
        body = text.getvalue()
        start = body.find("   ncalls")
        print(f"### {title}\n{body[start:].rstrip()}".replace(f"{REPO}/", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", help="paths with their query, e.g. /claims /agreements/BKY-DESA-2025")
    parser.add_argument("--demo-store", default=None)
    parser.add_argument("--as", dest="user", default=USERS[0].name, choices=[u.name for u in USERS])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--profile-dir", type=Path, default=None, help="also write <page>-<read>.prof files here")
    args = parser.parse_args(argv)
    with demo_store(args.demo_store) as store:
        profile_pages(store, args.pages, args.user, args.top, args.profile_dir)


if __name__ == "__main__":
    main()
