"""The web dashboard (Bahasa Indonesia by default, English by a switch), served by ``jamsos serve`` at ``/``.

Server-rendered pages on the same reads and commands as the HTTP API (``api.web.reading``, and
``commands.handlers.execute`` as the signed-in principal); a session cookie instead of a bearer token
(:mod:`api.web.auth`); charts drawn by Chart.js (shipped in ``static/vendor`` with its licence, nothing loaded from
the internet), every figure also in a table, every page readable without JavaScript.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.middleware import is_web_path
from api.web.core import HERE

__all__ = ["install", "is_web_path"]

def install(app: FastAPI, sessions_url: str) -> None:
    """Mount the pages, the sign-in routes and the static files on ``app``; sessions live at ``sessions_url``."""
    from api.web import auth
    from api.web.pages import ROUTERS
    from api.web.sessions import SessionStore

    app.state.web_sessions = SessionStore(sessions_url)
    app.include_router(auth.router)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
