"""What every read route shares: the roles of a read, the business-time query parameters parsed as the CLI parses
them, unknown query parameters refused, and results written as the CLI's ``--json`` writes them.

Invariants:
- A read route answers with exactly the document the CLI's ``--json`` prints for the same read (the same keys and
  values: :func:`cli_json` is the CLI's ``emit``, less the indentation).
- A query parameter the route does not declare is refused (422 naming it): a misspelt ``agrement=`` must not
  silently widen a report to the whole ledger.
- ``on`` and ``as_of`` are refused with the CLI's messages; a naive ``as_of`` is WIB, as in the CLI.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.dependencies.models import Dependant

from api.deps import ActorDep, refuse_other_roles
from ledger.errors import InvalidInput
from ledger.text import json_escaped
from ledger.values import Role

API = "/api/v1"
JSON_TYPE = "application/json"

OnQuery = Annotated[str | None, Query(
    description="Business date YYYY-MM-DD: as the business stood on that day. Default: today in the zone of the "
                "region concerned (WIB, WITA or WIT; national: WIB). A future date is refused.",
    examples=["2026-01-31"])]
AsOfQuery = Annotated[str | None, Query(
    description="Recorded-time cut-off (ISO timestamp; without an offset it is WIB): only events recorded by then.",
    examples=["2026-02-05T17:00:00+07:00"])]


def roles_of_read(*reads: str) -> list[str]:
    """The roles that may make any of ``reads`` (``commands.authorise.READ_ROLES``, or a command kind's roles for
    ``member.reveal``), and ``admin``: a route's ``x-roles``."""
    from commands.authorise import COMMAND_ROLES, READ_ROLES

    roles: set[Role] = {Role.ADMIN}
    for read in reads:
        roles |= READ_ROLES[read] if read in READ_ROLES else COMMAND_ROLES[read]
    return sorted(r.value for r in roles)


def cli_json(result: Any, status_code: int = 200) -> Response:
    """``result`` as the CLI's ``--json`` writes it (``default=str``, forbidden characters escaped), so that the
    parsed body equals the parsed CLI output."""
    body = json_escaped(json.dumps(result, ensure_ascii=False, default=str))
    return Response(body.encode("utf-8"), status_code=status_code, media_type=JSON_TYPE)


def _query_names(dependant: Dependant) -> set[str]:
    names = {str(p.alias) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


QUERY_NAME_LEN_MAX = 64
"""An unknown parameter's name is echoed in the refusal only this far."""


def refuse_unknown_query(request: Request, actor: ActorDep) -> None:
    """A router dependency: 422 naming the first query parameter the matched route does not declare (after the
    bearer token is checked: a stranger hears only 401)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    for name in request.query_params:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidInput(name[:QUERY_NAME_LEN_MAX], f"unknown query parameter (this route takes: {listed})")


STRICT_QUERY = [Depends(refuse_other_roles), Depends(refuse_unknown_query)]
"""``dependencies=`` of a router whose routes refuse a principal outside their ``x-roles`` (403) and then
undeclared query parameters (422)."""


def negotiate(accept: str | None, offered: tuple[str, ...]) -> str | None:
    """The one of ``offered`` the ``Accept`` header prefers (RFC 9110 §12.5.1: each offer takes the ``q`` of the
    most specific range matching it; ties go to the earlier offer); the first offer without a header; None when
    the header accepts none of them."""
    if accept is None or not accept.strip():
        return offered[0]
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (x.strip() for x in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))
    best: tuple[float, int] | None = None
    chosen = None
    for index, offer in enumerate(offered):
        matches = [(_specificity(media, offer), q) for media, q in ranges if _specificity(media, offer) >= 0]
        if not matches:
            continue
        q = max(matches)[1]
        if q > 0 and (best is None or (q, -index) > best):
            best, chosen = (q, -index), offer
    return chosen


def _specificity(media: str, offer: str) -> int:
    """2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*``, -1 when the range does not match ``offer``."""
    if media == offer:
        return 2
    if media == "*/*":
        return 0
    if media.endswith("/*") and offer.startswith(media[:-1]):
        return 1
    return -1


def accepting(*offered: str) -> Any:
    """A dependency: the representation ``Accept`` asks for among ``offered`` — 406 (before anything is read or
    recorded) when it accepts none."""
    from starlette.exceptions import HTTPException

    def choose(request: Request, actor: ActorDep) -> str:  # after the token: a stranger hears only 401
        chosen = negotiate(request.headers.get("accept"), offered)
        if chosen is None:
            raise HTTPException(406, f"this route answers {', '.join(offered)}")
        return chosen

    return Depends(choose)


ACCEPT_JSON = accepting(JSON_TYPE)
"""``dependencies=`` entry of a JSON-only route: ``Accept: text/csv`` there is 406."""
