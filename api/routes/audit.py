"""Tamper evidence and the audit trail over HTTP: ``jamsos audit verify | seal | prove | check-proof | trail``.

Every route is a read (role ``auditor``, scope ``all``: the read ``audit``), and answers the CLI's ``--json``
document. ``seal`` is a GET: the CLI's ``audit seal`` only reads the chain's head (``store.chain_head()``) and
records nothing — the caller keeps the seal outside the system. ``verify`` answers 200 with ``ok`` false when the
chain does not verify (the CLI exits 7): the verification ran, its findings are the answer.

The trail of one claim or agreement is ``GET /audit/trail?claim=|agreement=``; a member's trail is asked by NIK,
and a NIK must not sit in a query string (it lands in logs), so it is only ``POST /audit/trail`` with a JSON body
(which also takes ``claim`` or ``agreement``). The CLI has no option naming a member by its pseudonymous id, so
neither has the API.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, LedgerDep, read_as
from api.problems import COMMON_PROBLEMS, problem_responses
from api.routes.reading import ACCEPT_JSON, API, STRICT_QUERY, cli_json, roles_of_read
from eventstore.bootstrap import Ledger
from eventstore.chain import ChainBroken
from ledger.errors import InvalidInput
from projections.chain_audit import POSITION_MAX

router = APIRouter(prefix=f"{API}/audit", tags=["audit"], dependencies=[*STRICT_QUERY, ACCEPT_JSON])
ROLES = {"x-roles": roles_of_read("audit"), "x-read": "audit"}
PROBLEMS = problem_responses(*sorted({*COMMON_PROBLEMS, 406}))
HEAD_LEN_MAX = 128
STATE_B64_LEN_MAX = 1_000_000
"""A stored event's bytes, base64, in a check-proof body (well inside the JSON body limit)."""

HeadQuery = Annotated[str | None, Query(max_length=HEAD_LEN_MAX, description="A head hash sealed earlier "
                                        "(`/audit/seal`): the chain must hold it.")]


@router.get("/verify", response_model=dict[str, Any], operation_id="audit_verify", responses=PROBLEMS,
            summary="Check every stored event against the hash chain, and the chain against itself",
            openapi_extra=ROLES)
def audit_verify(ledger: LedgerDep, actor: ActorDep, head: HeadQuery = None) -> Response:
    """``jamsos audit verify --json``: from the stored bytes alone; ``ok`` false names each edited, removed or
    unchained position, broken chain row, or a sealed head the chain does not hold."""
    from projections.chain_audit import verify

    read_as(ledger, actor, "audit")
    return cli_json(verify(ledger.store, head))


@router.get("/seal", response_model=dict[str, Any], operation_id="audit_seal", responses=PROBLEMS,
            summary="The chain's head (batch, last position, hash): keep it outside the system", openapi_extra=ROLES)
def audit_seal(ledger: LedgerDep, actor: ActorDep) -> Response:
    """``jamsos audit seal --json``: reads the head, records nothing. Verify first: a seal vouches only for a
    chain that verified."""
    from projections.chain_audit import seal

    read_as(ledger, actor, "audit")
    return cli_json(seal(ledger.store))


@router.get("/proof", response_model=dict[str, Any], operation_id="audit_prove",
            responses=problem_responses(*sorted({*COMMON_PROBLEMS, 404, 406, 409})),
            summary="An inclusion proof of one event, to check without the store", openapi_extra=ROLES)
def audit_prove(ledger: LedgerDep, actor: ActorDep,
                position: Annotated[int, Query(le=POSITION_MAX, description="The event's position in the log.")],
                head: HeadQuery = None) -> Response:
    """``jamsos audit prove --position N``: the event's identity and state digest, its leaf, the Merkle path to its
    batch's root and the chain links to the head (or the sealed ``head``)."""
    from projections.chain_audit import prove

    read_as(ledger, actor, "audit")
    return cli_json(prove(ledger.store, position, head))


class ProofCheck(BaseModel):
    """A proof from ``/audit/proof`` and, optionally, the head you sealed and the event's stored bytes."""

    model_config = ConfigDict(extra="forbid")

    proof: dict[str, Any] = Field(description="The proof, as `/audit/proof` answered it.")
    head: str | None = Field(default=None, max_length=HEAD_LEN_MAX, description="The head hash you sealed.")
    state_b64: str | None = Field(default=None, max_length=STATE_B64_LEN_MAX,
                                  description="The event's stored bytes (base64), checked against the digest.")


@router.post("/proof-check", response_model=dict[str, Any], operation_id="audit_check_proof",
             responses=problem_responses(*sorted({*COMMON_PROBLEMS, 406, 409})),
             summary="Check an inclusion proof (no store needed): 409 naming the step that fails",
             openapi_extra=ROLES)
def audit_check_proof(ledger: LedgerDep, actor: ActorDep, body: Annotated[ProofCheck, Body()]) -> Response:
    """``jamsos audit check-proof FILE --json``. The CLI needs no store for it (and no role); over the network
    it takes an auditor's token like every other audit route."""
    from eventstore.chain import InvalidProof, check_proof

    read_as(ledger, actor, "audit")
    state = None
    if body.state_b64 is not None:
        try:
            state = base64.b64decode(body.state_b64, validate=True)
        except ValueError:  # binascii.Error, or a character outside ASCII
            raise InvalidInput("state_b64", "not base64") from None
    try:
        return cli_json(check_proof(body.proof, body.head, state))
    except InvalidProof as exc:
        raise ChainBroken("proof", str(exc)) from None


def trail(ledger: Ledger, nik: str | None, claim_id: str | None, agreement_id: str | None) -> dict[str, Any]:
    """The audit rows of exactly one member (by NIK), claim or agreement — ``jamsos audit trail --json``."""
    from projections.audit import subject_trail
    from projections.runner import views_engine

    return subject_trail(ledger.store, views_engine(ledger.store), ledger.keyring.secrets.pepper, nik=nik,
                         claim_id=claim_id, agreement_id=agreement_id)


TRAIL_SUMMARY = "The audit rows of one member, claim or agreement (no personal data in clear)"


@router.get("/trail", response_model=dict[str, Any], operation_id="audit_trail", responses=PROBLEMS,
            summary=TRAIL_SUMMARY, openapi_extra=ROLES)
def audit_trail(ledger: LedgerDep, actor: ActorDep,
                claim: Annotated[str | None, Query(max_length=64, description="A claim id.")] = None,
                agreement: Annotated[str | None, Query(max_length=64, description="An agreement id.")] = None
                ) -> Response:
    """Exactly one of ``claim`` or ``agreement``; a member's trail is ``POST /audit/trail`` (a NIK stays out of
    URLs)."""
    read_as(ledger, actor, "audit")
    if (claim is None) == (agreement is None):
        raise InvalidInput("claim", "give exactly one of claim or agreement (a member: POST /audit/trail)")
    return cli_json(trail(ledger, None, claim, agreement))


class TrailQuery(BaseModel):
    """Exactly one of ``member`` (a NIK), ``claim`` or ``agreement``."""

    model_config = ConfigDict(extra="forbid")

    member: str | None = Field(default=None, max_length=32, description="A member's 16-digit NIK.")
    claim: str | None = Field(default=None, max_length=64, description="A claim id.")
    agreement: str | None = Field(default=None, max_length=64, description="An agreement id.")


@router.post("/trail", response_model=dict[str, Any], operation_id="audit_trail_by_body", responses=PROBLEMS,
             summary=TRAIL_SUMMARY + ": the form that takes a member's NIK", openapi_extra=ROLES)
def audit_trail_by_body(ledger: LedgerDep, actor: ActorDep, body: Annotated[TrailQuery, Body()]) -> Response:
    """``jamsos audit trail --member NIK | --claim ID | --agreement ID --json``, the NIK in the body."""
    read_as(ledger, actor, "audit")
    return cli_json(trail(ledger, body.member, body.claim, body.agreement))
