"""Audit: verify the hash chain, seal its head as a printable letter, the trail of one member, claim or agreement,
and one report as it stood on D as known at T1 beside as known at T2 — for auditors (the read ``audit``: role
``auditor``, scope ``all``), as ``jamsos audit verify | seal | trail`` and ``report NAME --on D --as-of T``.

Every route here is a read: nothing is written. Sealing is one too (``jamsos audit seal`` prints the chain's head and
records nothing; the letter is what the auditor keeps outside the system). A member's trail is asked by NIK in a
POST body only (with the session's CSRF token): a NIK never sits in a URL, a browser's history or the access log;
``GET /audit/trail`` takes a claim or an agreement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import read_as
from api.web import i18n
from api.web.core import (
    NAV,
    NavEntry,
    ReportTime,
    WebUser,
    check_csrf,
    ledger_of,
    render,
    require_read,
    web_user,
)
from api.web.pages import audit_compare
from api.web.pages.audit_text import MESSAGES
from api.web.reading import report, visible_agreements
from ledger.business_time import WIB, parse_instant
from ledger.errors import InvalidInput, NotFound

READ = "audit"
PATH = "/audit"
router = APIRouter(include_in_schema=False)
NAV.append(NavEntry(PATH, "nav.audit", (READ, "report.audit")))
User = Annotated[WebUser, Depends(web_user)]
i18n.register(MESSAGES)

COMPARED_REPORTS = ("balances", "members", "claims", "reconciliation")
"""The reports the comparison offers (money and people; the reconciliation needs an agreement)."""
TRAIL_ROWS_MAX = 2000
"""Rows of a trail shown on the page (the CLI and ``/api/v1/audit/trail`` give the whole of it)."""
HEAD_LEN_MAX = 128
ID_LEN_MAX = 64
INSTANT_LEN_MAX = 40
NIK_FIELD_LEN_MAX = 32


def _allow(request: Request, user: WebUser) -> None:
    """The page's read, as the API's audit routes make it (a scoped auditor is refused: the chain is national)."""
    require_read(user, READ)
    read_as(ledger_of(request), user.actor, READ)


def _page(request: Request, user: WebUser, **context: Any) -> HTMLResponse:
    from projections.chain_audit import seal

    agreements = visible_agreements(request, user)
    base = {"head": seal(ledger_of(request).store), "agreements": agreements, "reports": COMPARED_REPORTS,
            "form": {}, "verify": None, "trail": None, "compare": None}
    return render(request, user, "audit.html", {**base, **context})


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get(PATH, response_class=HTMLResponse)
def audit(request: Request, user: User) -> HTMLResponse:
    _allow(request, user)
    return _page(request, user)


@router.get(f"{PATH}/verify", response_class=HTMLResponse)
def audit_verify(request: Request, user: User, head: str | None = None) -> HTMLResponse:
    """``jamsos audit verify [--head HASH]``: every stored event against the chain, from the stored bytes."""
    from projections.chain_audit import verify

    _allow(request, user)
    head = _clean(head)
    if head is not None and len(head) > HEAD_LEN_MAX:
        raise InvalidInput("head", user.t("audit.head.long", n=HEAD_LEN_MAX))
    result = verify(ledger_of(request).store, head)
    return _page(request, user, verify=result, form={"head": head or ""})


@router.get(f"{PATH}/seal", response_class=HTMLResponse)
def audit_seal(request: Request, user: User) -> HTMLResponse:
    """``jamsos audit seal``, after verifying: the chain's head as a letter to print and keep outside the system.
    A chain that does not verify gets no letter (a seal vouches only for a chain that verified)."""
    from projections.chain_audit import seal, verify

    _allow(request, user)
    store = ledger_of(request).store
    sealed = seal(store)
    checked = verify(store, sealed["hash"] if sealed["position"] else None)
    today = ledger_of(request).clock.now().astimezone(WIB).date()
    return render(request, user, "audit_seal.html", {"seal": sealed, "checked": checked, "today": today},
                  status_code=200 if checked["ok"] else 409)


def _trail(request: Request, user: User, member: str | None, claim: str | None,
           agreement: str | None) -> HTMLResponse:
    from ledger.identity import validate_nik
    from projections.audit import subject_trail
    from projections.runner import views_engine

    given = [name for name, value in (("member", member), ("claim", claim), ("agreement", agreement)) if value]
    if len(given) != 1:
        raise InvalidInput(given[1] if given else "member", user.t("audit.trail.one"))
    for name, value in (("claim", claim), ("agreement", agreement)):
        if value is not None and len(value) > ID_LEN_MAX:
            raise InvalidInput(name, user.t("audit.id.long", n=ID_LEN_MAX))
    if member is not None:
        validate_nik(member, "member")
    if agreement is not None and agreement not in {a.code for a in visible_agreements(request, user)}:
        raise NotFound("agreement", user.t("audit.agreement.unknown", code=agreement))
    ledger = ledger_of(request)
    found = subject_trail(ledger.store, views_engine(ledger.store), ledger.keyring.secrets.pepper, nik=member,
                          claim_id=claim, agreement_id=agreement)["rows"]
    rows = sorted({r["position"]: r for r in found}.values(), key=lambda r: r["position"])  # own + naming it, once
    subject = ("member", rows[0]["aggregate_id"] if rows else None) if member else (
        ("claim", claim) if claim else ("agreement", agreement))
    trail = {"kind": subject[0], "subject": subject[1], "rows": rows[:TRAIL_ROWS_MAX], "total": len(rows),
             "max": TRAIL_ROWS_MAX}
    form = {"claim": claim or "", "agreement": agreement or ""}  # never the NIK: it is not written back
    return _page(request, user, trail=trail, form=form)


@router.get(f"{PATH}/trail", response_class=HTMLResponse)
def audit_trail(request: Request, user: User, claim: str | None = None,
                agreement: str | None = None) -> HTMLResponse:
    """The trail of one claim or agreement (a link may name it); a member's is only by the form (POST)."""
    _allow(request, user)
    if "member" in request.query_params or "nik" in request.query_params:
        request.scope["query_string"] = b""  # the refusal page must not carry it on (its links keep the query)
        request.__dict__.pop("_url", None)
        raise InvalidInput("member", user.t("audit.trail.nik_in_url"))
    return _trail(request, user, None, _clean(claim), _clean(agreement))


@router.post(f"{PATH}/trail", response_class=HTMLResponse)
def audit_trail_form(request: Request, user: User,
                     csrf_token: Annotated[str | None, Form()] = None,
                     member: Annotated[str | None, Form(max_length=NIK_FIELD_LEN_MAX)] = None,
                     claim: Annotated[str | None, Form(max_length=ID_LEN_MAX)] = None,
                     agreement: Annotated[str | None, Form(max_length=ID_LEN_MAX)] = None) -> HTMLResponse:
    """The trail form: a read, but it carries a NIK, so it is a POST (CSRF-checked like every form)."""
    check_csrf(user, csrf_token)
    _allow(request, user)
    return _trail(request, user, _clean(member), _clean(claim), _clean(agreement))


def _instant(user: WebUser, field: str, text: str | None) -> tuple[str, datetime]:
    if text is None:
        raise InvalidInput(field, user.t("audit.compare.missing"))
    if len(text) > INSTANT_LEN_MAX:
        raise InvalidInput(field, user.t("audit.compare.unparsable", value=text[:INSTANT_LEN_MAX] + "…"))
    try:
        instant = parse_instant(text, field)
    except InvalidInput:
        raise InvalidInput(field, user.t("audit.compare.unparsable", value=text)) from None
    assert instant is not None
    return text, instant


@router.get(f"{PATH}/compare", response_class=HTMLResponse)
def audit_compare_page(request: Request, user: User, on: str | None = None, known_1: str | None = None,
                       known_2: str | None = None, name: Annotated[str | None, Query(alias="report")] = None,
                       agreement: str | None = None, only_diff: str | None = None) -> HTMLResponse:
    """One report as it stood on ``on`` as known at ``known_1`` and at ``known_2``, cell by cell."""
    _allow(request, user)
    ledger = ledger_of(request)
    on, agreement, name = _clean(on), _clean(agreement), _clean(name) or "balances"
    if name not in COMPARED_REPORTS:
        raise InvalidInput("report", user.t("audit.compare.report", known=", ".join(COMPARED_REPORTS)))
    ReportTime(on[:32] if on else None, None).check(ledger)  # a future or unparsable day, naming ``on``
    text_1, first = _instant(user, "known_1", _clean(known_1))
    text_2, second = _instant(user, "known_2", _clean(known_2))
    now = ledger.clock.now()
    for field, instant in (("known_1", first), ("known_2", second)):
        if instant > now:
            raise InvalidInput(field, user.t("audit.compare.future", value=i18n.long_date(instant, user.lang),
                                             now=i18n.long_date(now, user.lang)))
    if second < first:
        raise InvalidInput("known_2", user.t("audit.compare.order"))
    if agreement is not None and agreement not in {a.code for a in visible_agreements(request, user)}:
        raise NotFound("agreement", user.t("audit.agreement.unknown", code=agreement))
    if name == "reconciliation" and agreement is None:
        raise InvalidInput("agreement", user.t("audit.compare.needs_agreement"))
    documents = [report(request, user, name, agreement=agreement, time=ReportTime(on, text))
                 for text in (text_1, text_2)]
    cells = audit_compare.compare(*documents)
    write = audit_compare.formatter(i18n.rupiah, i18n.number, lambda v, p: i18n.percent(v, p, user.lang),
                                    user.lang, user.t("yes"), user.t("no"))
    shown = [c for c in cells if c.differs] if only_diff else cells
    compare = {"name": name, "agreement": agreement, "documents": documents, "first": first, "second": second,
               "cells": shown, "total": len(cells), "differ": sum(c.differs for c in cells), "write": write}
    form = {"on": on or "", "known_1": text_1, "known_2": text_2, "name": name, "agreement": agreement or "",
            "only_diff": bool(only_diff)}
    return _page(request, user, compare=compare, form=form)
