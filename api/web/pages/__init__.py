"""The dashboard's pages, one module each (its router, its menu entry, its messages in both languages).

:data:`ROUTERS` is what :func:`api.web.install` mounts; a module registers its menu entry in ``api.web.core.NAV``
and its messages with ``api.web.i18n.register`` when it is imported, in the order of the menu.
"""

from __future__ import annotations

from fastapi import APIRouter

# Importing a page registers its menu entry: one line per page, in the menu's order.
# isort: off
from api.web.pages import overview
from api.web.pages import audit
# isort: on

ROUTERS: list[APIRouter] = [overview.router, audit.router]
