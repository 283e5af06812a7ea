"""What every dashboard page shares: the signed-in principal (a session cookie), the CSRF check of every form, the
language, the ``on`` / ``as_of`` pickers, the menu (only the pages the principal's roles may open) and rendering
a template — or an error page naming the field and the reason.

A page authorises exactly as the HTTP API does: the same reads (``commands.authorise.READ_ROLES`` through
``api.deps.read_as``), the same commands through ``commands.handlers.execute`` as the signed-in principal, so every
event a form causes names that principal.

Invariants:
- No page is rendered without a live session; an expired one goes back to the sign-in page, saying so.
- A POST without the session's own CSRF token changes nothing (403 page).
- A page a principal's roles or scope do not allow is a 403 page, never an empty table.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.web import i18n
from api.web.sessions import Session, SessionStore
from commands.authorise import READ_ROLES, Actor
from eventstore.bootstrap import Ledger
from ledger.business_time import WIT, parse_day, parse_instant
from ledger.errors import Forbidden, InvalidInput, LedgerError, NotFound, Unauthenticated
from ledger.principal import Principal, Scope, principal_id_for
from ledger.values import Role

log = logging.getLogger("jamsos.web")

HERE = Path(__file__).parent
SESSION_COOKIE = "jamsos_session"
LOGIN_CSRF_COOKIE = "jamsos_login_csrf"
CSRF_FIELD = "csrf_token"
FORM_VALUE_LEN_MAX = 4000

templates = Jinja2Templates(directory=str(HERE / "templates"))
env = templates.env
env.autoescape = True  # every value is escaped: a payer named <script> is text (Jinja2Templates does this too)
env.filters.update(rupiah=i18n.rupiah, number=i18n.number)
env.globals.update(urlencode=urlencode)


class SignInNeeded(Exception):
    """No live session: the page answers with the sign-in page (``expired``: a session was presented, and ended)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("sign in")
        self.expired = expired


@dataclass(frozen=True, slots=True)
class NavEntry:
    """A menu entry: the page's path, its title's message id, and the reads of which it needs at least one."""

    path: str
    title: str
    reads: tuple[str, ...]

    def allowed(self, actor: Actor) -> bool:
        return any(actor.has(*READ_ROLES[read]) for read in self.reads)


NAV: list[NavEntry] = []
"""The menu, in order; each page module appends its entry (:mod:`api.web.pages`)."""


@dataclass(slots=True)
class WebUser:
    """The signed-in principal of this request, its session, and how the page speaks."""

    actor: Actor
    session: Session
    lang: str
    t: i18n.Translator = field(init=False)

    def __post_init__(self) -> None:
        self.t = i18n.Translator(self.lang)

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def ledger_of(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def sessions_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.web_sessions
    return store


def now_utc(request: Request) -> datetime:
    """The ledger's clock (frozen in tests and scripted replays), for session ages too."""
    return ledger_of(request).clock.now().astimezone(UTC)


def language(request: Request) -> str:
    return i18n.language_of(request.cookies.get(i18n.LANGUAGE_COOKIE))


def actor_of(ledger: Ledger, name: str) -> Actor | None:
    """The principal ``name`` as it is now (roles and scope re-read on every request: a revocation or a new grant
    takes effect at the next click), None when it is gone or revoked."""
    principal = ledger.store.load(Principal, principal_id_for(name))
    if not principal.active:
        return None
    return Actor(name, frozenset(principal.state.roles), Scope.parse(principal.state.scope))


def web_user(request: Request) -> WebUser:
    """A dependency: the signed-in principal, or :class:`SignInNeeded`."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise SignInNeeded(expired=False)
    session = sessions_of(request).get(secret, now_utc(request))
    if session is None:
        raise SignInNeeded(expired=True)
    actor = actor_of(ledger_of(request), session.principal)
    if actor is None:
        sessions_of(request).close(secret)
        raise SignInNeeded(expired=True)
    request.scope.setdefault("state", {})["principal"] = actor.name  # the access log line names who
    return WebUser(actor, session, language(request))


def check_csrf(user: WebUser, token: str | None) -> None:
    """Refuse (403) a form whose CSRF token is not this session's."""
    if not token or not hmac.compare_digest(token.encode(), user.csrf_token.encode()):
        log.warning("csrf token refused for %s", user.actor.name)
        raise Forbidden(CSRF_FIELD, user.t("csrf.refused"))


def require_read(user: WebUser, *reads: str) -> None:
    """Refuse (403 page) a principal whose roles allow none of ``reads`` (the scope is checked by the read)."""
    if not any(user.actor.has(*READ_ROLES[read]) for read in reads):
        roles = " / ".join(sorted({r.value for read in reads for r in READ_ROLES[read]} | {Role.ADMIN.value}))
        raise Forbidden("principal", f"{user.actor.name} may not open this page: it needs the role {roles}")


@dataclass(frozen=True, slots=True)
class ReportTime:
    """The pickers of every page: the business day (``on``) and the recorded-time cut-off (``as_of``), as typed."""

    on: str | None
    as_of: str | None

    @classmethod
    def of(cls, request: Request) -> ReportTime:
        on = (request.query_params.get("on") or "").strip()[:32] or None
        as_of = (request.query_params.get("as_of") or "").strip()[:40] or None
        return cls(on, as_of)

    def query(self, **more: str | None) -> str:
        """The query string that keeps these pickers (and ``more``) on a link."""
        values = {"on": self.on, "as_of": self.as_of, **more}
        return urlencode({k: v for k, v in values.items() if v})

    def check(self, ledger: Ledger) -> None:
        """Refuse a future ``on`` or an unparsable value, naming the field (the reports would refuse it too; checked
        here so that the page says so before it builds anything)."""
        day = parse_day(self.on)
        parse_instant(self.as_of)
        today = ledger.clock.now().astimezone(WIT).date()  # the latest day begun anywhere in Indonesia
        if day is not None and day > today:
            raise InvalidInput("on", f"{day} is in the future (today is {today}); the ledger shows only what has "
                                     "happened")


def render(request: Request, user: WebUser | None, template: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    """``template`` with the shell's context: the user, the translator, the menu, the pickers, the formatters."""
    lang = user.lang if user else language(request)
    t = user.t if user else i18n.Translator(lang)
    time = ReportTime.of(request)
    base: dict[str, Any] = {
        "user": user, "t": t, "lang": lang, "time": time,
        "nav": [e for e in NAV if user and e.allowed(user.actor)],
        "path": request.url.path,
        "csrf_token": user.csrf_token if user else "",
        "long_date": lambda v: i18n.long_date(v, lang),
        "month_name": lambda p: i18n.month_name(p, lang),
        "percent": lambda v, places=2: i18n.percent(v, places, lang),
        "other_lang": "en" if lang == "id" else "id",
        "messages": i18n.MESSAGES[lang],
        "here": quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&"),
    }
    return templates.TemplateResponse(request, template, {**base, **(context or {})}, status_code=status_code)


STATUS_OF_ERROR = {"Forbidden": 403, "NotFound": 404, "InvalidInput": 422, "AlreadyDone": 409,
                   "RuleViolation": 422, "ConcurrencyConflict": 409}


def error_page(request: Request, err: LedgerError) -> HTMLResponse | RedirectResponse:
    """The page for a refusal: the sign-in page for no session, else the status page naming field and reason."""
    if isinstance(err, Unauthenticated):
        return sign_in_redirect(request, expired=False)
    status = 403 if isinstance(err, Forbidden) else 404 if isinstance(err, NotFound) else (
        STATUS_OF_ERROR.get(type(err).__name__, 422))
    user = _user_or_none(request)
    return render(request, user, "error.html", {"status": status, "field": err.field, "reason": err.reason},
                  status_code=status)


def sign_in_redirect(request: Request, expired: bool) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": target if request.method == "GET" else "/"}
    if expired:
        query["expired"] = "1"
    response = RedirectResponse(f"/login?{urlencode(query)}", status_code=303)
    if expired:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//evil`` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 512:
        return "/"
    return target


class PageErrors:
    """``api.problems.WebErrors`` for the dashboard: a refusal on a page is a page (403, 404, 422 naming the field
    and the reason), a missing session goes to the sign-in page."""

    def wants(self, request: Request) -> bool:
        from api.web import is_web_path

        return is_web_path(request.url.path)

    def page(self, request: Request, err: Exception) -> HTMLResponse | RedirectResponse:
        from fastapi.exceptions import RequestValidationError
        from starlette.exceptions import HTTPException

        if isinstance(err, SignInNeeded):
            return sign_in_redirect(request, err.expired)
        if isinstance(err, LedgerError):
            return error_page(request, err)
        if isinstance(err, RequestValidationError):
            first = err.errors()[0] if err.errors() else {}
            loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
            return error_page(request, InvalidInput(".".join(loc) or "request", str(first.get("msg", "invalid"))))
        if isinstance(err, HTTPException):
            if err.status_code == 404:
                return error_page(request, NotFound("path", f"no page {request.url.path[:80]}"))
            user = _user_or_none(request)
            return render(request, user, "error.html", {"status": err.status_code, "field": "request",
                                                        "reason": str(err.detail)}, status_code=err.status_code)
        raise err


def _user_or_none(request: Request) -> WebUser | None:
    try:
        return web_user(request)
    except SignInNeeded:
        return None
