"""The dashboard's pages, one module each (its router, its menu entry, its messages in both languages).

:data:`ROUTERS` is what :func:`api.web.install` mounts; a module registers its menu entry in ``api.web.core.NAV``
and its messages with ``api.web.i18n.register`` when it is imported; :data:`MENU_ORDER` puts the menu in order.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.web.core import NAV
from api.web.pages import agreements, audit, claims, coverage, overview, reconciliation

MENU_ORDER = ("/overview", "/agreements", "/reconciliation", "/claims", "/audit", "/coverage")
"""The menu, as a finance officer works: the money, an agreement, the bank, the claims, the audit, the plan."""

ROUTERS: list[APIRouter] = [overview.router, agreements.router, reconciliation.router, claims.router, audit.router,
                            coverage.router]

assert {e.path for e in NAV} <= set(MENU_ORDER), "every page has its place in the menu"
NAV.sort(key=lambda e: MENU_ORDER.index(e.path))
