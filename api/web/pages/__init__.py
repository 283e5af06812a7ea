"""The dashboard's pages, one module each (its router, its menu entry, its messages in both languages).

:data:`ROUTERS` is what :func:`api.web.install` mounts; a module registers its menu entry in ``api.web.core.NAV``
and its messages with ``api.web.i18n.register`` when it is imported, in the order of the menu.
"""

from __future__ import annotations

from fastapi import APIRouter

# isort: off
# one line per page, in the menu's order: importing a page appends its menu entry
from api.web.pages import overview
from api.web.pages import agreements
from api.web.pages import claims
# isort: on

ROUTERS: list[APIRouter] = [overview.router, agreements.router, claims.router]
