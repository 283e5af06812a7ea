"""The dashboard's pages, one module each (its router, its menu entry, its messages in both languages).

:data:`ROUTERS` is what :func:`api.web.install` mounts; a module registers its menu entry in ``api.web.core.NAV``
and its messages with ``api.web.i18n.register`` when it is imported, in the order of the menu.
"""

from __future__ import annotations

from fastapi import APIRouter

# The menu's order is the order of these imports (each module appends its entry): overview first, coverage last.
from api.web.pages import overview

# isort: split
from api.web.pages import agreements

# isort: split
from api.web.pages import claims

# isort: split
from api.web.pages import coverage

ROUTERS: list[APIRouter] = [overview.router, agreements.router, claims.router, coverage.router]
