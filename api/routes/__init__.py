"""One router per resource; each route declares the roles that may call it (``x-roles`` in the OpenAPI document).

:data:`ROUTERS` is every router the application mounts; :data:`UPLOAD_PATHS` the path endings whose bodies may be
as large as an upload (``Settings.http_upload_max_bytes``) rather than a JSON body.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import audit, bulk, commands, events, health, principals, reads, reports

ROUTERS: list[APIRouter] = [health.router, commands.router, principals.router, bulk.router, reports.router,
                            reads.router, audit.router, events.router]
UPLOAD_PATHS: tuple[str, ...] = (f"{commands.API}{bulk.IMPORTS_PATH}", f"{commands.API}{bulk.STATEMENTS_PATH}")
