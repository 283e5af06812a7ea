"""Signing in and out of the dashboard, and the language switch.

A principal with a password (``jamsos principal set-password``) signs in with its name and password
(``commands.authorise.authenticate_password``: argon2id); the answer is a session cookie — HttpOnly,
SameSite=Strict, Secure when the page was served over TLS. The sign-in form carries a CSRF token of its own (a
cookie and a hidden field that must match: there is no session yet); every later form carries the session's.

Failed sign-ins are counted per name (:mod:`api.web.sessions`); the :data:`~api.web.sessions.FAILURES_MAX`-th
within the window locks the name for the rest of it, and each failure and each lockout is logged (name and client
address, never the password). A locked name is refused before its password is checked.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.web import i18n
from api.web.core import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    WebUser,
    check_csrf,
    now_utc,
    render,
    safe_next,
    sessions_of,
    web_user,
)
from api.web.sessions import FAILURES_MAX, SESSION_LIFETIME_S
from ledger.errors import Unauthenticated

log = logging.getLogger("jamsos.web.auth")
router = APIRouter(include_in_schema=False)

NameField = Annotated[str, Form(max_length=64)]
PasswordField = Annotated[str, Form(max_length=256)]
TokenField = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(request: Request, message: str | None, status_code: int = 200, name: str = "",
                next_path: str = "/", level: str = "error") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, None, "login.html", {"message": message, "level": level, "name": name,
                                                    "login_csrf": token, "next": safe_next(next_path)},
                      status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=_secure(request), path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", expired: str | None = None,
               signed_out: str | None = None) -> HTMLResponse:
    t = i18n.Translator(i18n.language_of(request.cookies.get(i18n.LANGUAGE_COOKIE)))
    message = t("login.expired") if expired else t("login.signed_out") if signed_out else None
    return _login_page(request, message, next_path=next, level="info")


@router.post("/login", response_model=None)
def login(request: Request, name: NameField, password: PasswordField, csrf_token: TokenField,
          next: Annotated[str, Form(max_length=512)] = "/") -> Response:
    t = i18n.Translator(i18n.language_of(request.cookies.get(i18n.LANGUAGE_COOKIE)))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        log.warning("sign-in form with a bad csrf token (name %r, client %s)", name[:64], _client(request))
        return _login_page(request, t("login.csrf"), 403, name=name, next_path=next)
    sessions, now = sessions_of(request), now_utc(request)
    name = name.strip()
    locked_s = sessions.locked_for_s(name, now)
    if locked_s:
        log.warning("sign-in refused: %r is locked for %d s more (client %s)", name[:64], locked_s, _client(request))
        return _login_page(request, t("login.locked", minutes=-(-locked_s // 60)), 429, name=name, next_path=next)
    from commands.authorise import authenticate_password

    try:
        actor = authenticate_password(request.app.state.ledger, name, password)
    except Unauthenticated as err:
        failures = sessions.fail(name, now)
        log.warning("sign-in failed for %r (%s; %d of %d; client %s)", name[:64], err.reason, failures,
                    FAILURES_MAX, _client(request))
        if failures >= FAILURES_MAX:
            log.warning("sign-in locked for %r after %d failures (client %s)", name[:64], failures, _client(request))
        return _login_page(request, t("login.failed"), 401, name=name, next_path=next)
    sessions.succeed(name)
    secret, _session = sessions.open(actor.name, now)
    log.info("signed in: %s (client %s)", actor.name, _client(request))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=SESSION_LIFETIME_S, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, csrf_token: TokenField, user: Annotated[WebUser, Depends(web_user)]) -> Response:
    check_csrf(user, csrf_token)
    sessions_of(request).close(request.cookies.get(SESSION_COOKIE))
    log.info("signed out: %s", user.actor.name)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}", response_model=None)
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    """Speak ``code`` (id or en) from now on; back to ``next``. Not a change of the ledger: a plain link."""
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.LANGUAGE_COOKIE, i18n.language_of(code), max_age=365 * 86400, samesite="strict",
                        secure=_secure(request), path="/")
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"
