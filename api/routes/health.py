"""``/healthz`` (the process answers) and ``/readyz`` (the store answers; how far behind the log each projection is)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import LedgerDep
from projections.registry import PROJECTIONS, projection
from projections.relay_positions import relay_statuses
from projections.runner import ProjectionRunner, views_engine

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(description="ok")


class Readiness(BaseModel):
    status: str = Field(description="ready, or unavailable when the store cannot be reached")
    head: int | None = Field(description="The log's last position.")
    projections: list[dict[str, Any]] = Field(default_factory=list, description="Each read model's position and lag.")
    relays: list[dict[str, Any]] = Field(default_factory=list, description="Each outbox relay's position and lag.")


@router.get("/healthz", response_model=Health, openapi_extra={"x-roles": []})
def healthz() -> Health:
    """The process is up (no store access: a liveness probe)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, openapi_extra={"x-roles": []})
def readyz(ledger: LedgerDep) -> Any:
    """The store is reachable; each projection's and relay's lag behind the log's head. No personal data."""
    try:
        head = ledger.store.max_notification_id()
        engine = views_engine(ledger.store)
        runners = [ProjectionRunner(ledger.store, engine, projection(n)) for n in sorted(PROJECTIONS)]
        statuses = [r.status() for r in runners]
        lags = [{k: s[k] for k in ("projection", "position", "lag", "last_error")} for s in statuses]
        relays = [{k: s[k] for k in ("relay", "position", "lag", "updated_at", "last_error")}
                  for s in relay_statuses(ledger.store, engine)]
    except Exception as err:  # the store, or the views database, is not reachable
        body = Readiness(status="unavailable", head=None)
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"},
                            media_type="application/json") if err else None
    return Readiness(status="ready", head=head, projections=lags, relays=relays)
