"""`jamsos audit`: verify, seal, prove, check a proof, and the audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import (
    JsonOpt,
    StoreOpt,
    emit,
    fail,
    read_with,
)
from cli.errors import one_line
from cli.verbs import summary
from eventstore.bootstrap import Ledger
from eventstore.chain import ChainBroken
from ledger.errors import (
    InvalidInput,
)

audit_app = typer.Typer(help=summary("audit"))


@audit_app.command("verify")
def audit_verify(
    head: Annotated[str | None, typer.Option("--head", help="A head hash sealed earlier (jamsos audit seal; also a "
                                                            "head the audit projection sealed before the write-time "
                                                            "chain).")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every stored event against the hash chain, and the chain against itself, from the stored bytes
    alone (no read model needed); exit 7 naming each edited, removed or unchained position, each broken or
    removed chain row, or a sealed head the chain does not hold (history rewritten)."""
    from projections.chain_audit import verify

    result = read_with(store, "audit", lambda ledger: verify(ledger.store, head))
    emit(result, as_json)
    if not result["ok"]:
        sys.stderr.write(f"error: audit: {one_line(result['first_problem'])}\n")
        for more in result["findings"][1:]:
            sys.stderr.write(f"  {one_line(more)}\n")
        raise typer.Exit(7)


@audit_app.command("seal")
def audit_seal(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Print the chain's head (batch, last position, hash): keep it outside the system (a report, a letter);
    `verify --head HASH` then proves nothing before it was rewritten. Run `verify` first: a seal vouches only
    for a chain that verified."""
    from projections.chain_audit import seal

    emit(read_with(store, "audit", lambda ledger: seal(ledger.store)), as_json)


@audit_app.command("prove")
def audit_prove(
    position: Annotated[int, typer.Option("--position", help="The event's position in the log.")],
    head: Annotated[str | None, typer.Option("--head", help="End the proof at this sealed head (default: the "
                                                            "chain's head).")] = None,
    store: StoreOpt = None,
) -> None:
    """Print (JSON) an inclusion proof of one event: its identity and state digest, its leaf, the Merkle path to
    its batch's root, and the chain links from that batch to the head. `jamsos audit check-proof` (or
    `eventstore.chain.check_proof`) checks it without the store."""
    from projections.chain_audit import prove

    emit(read_with(store, "audit", lambda ledger: prove(ledger.store, position, head)), True)


@audit_app.command("check-proof")
def audit_check_proof(
    file: Annotated[Path, typer.Argument(help="A proof printed by `jamsos audit prove` (JSON).")],
    head: Annotated[str | None, typer.Option("--head", help="The head hash you sealed: the proof must end there.")]
    = None,
    state_file: Annotated[Path | None, typer.Option("--state-file", help="The event's stored bytes, to check "
                                                                         "against the proof's state digest.")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Check an inclusion proof offline (no store needed); exit 7 naming the step that fails."""
    from eventstore.chain import InvalidProof, check_proof

    try:
        proof = json.loads(file.read_text())
        result = check_proof(proof, head, state_file.read_bytes() if state_file else None)
    except OSError as exc:
        fail(InvalidInput("file", f"cannot read: {exc.strerror or exc}"))
    except json.JSONDecodeError as exc:
        fail(InvalidInput("file", f"not JSON: {exc.msg} at line {exc.lineno}"))
    except InvalidProof as exc:
        fail(ChainBroken("proof", str(exc)))
    emit(result, as_json)


@audit_app.command("trail")
def audit_trail(
    nik: Annotated[str | None, typer.Option("--member", help="A member's NIK.")] = None,
    claim_id: Annotated[str | None, typer.Option("--claim", help="A claim id.")] = None,
    agreement_id: Annotated[str | None, typer.Option("--agreement", help="An agreement id.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit rows of one member, claim or agreement (no personal data in clear)."""
    from projections.audit import subject_trail
    from projections.runner import views_engine

    if sum(x is not None for x in (nik, claim_id, agreement_id)) != 1:
        fail(InvalidInput("member", "give exactly one of --member, --claim or --agreement"))

    def go(ledger: Ledger) -> Any:
        return subject_trail(ledger.store, views_engine(ledger.store), ledger.keyring.secrets.pepper, nik=nik,
                             claim_id=claim_id, agreement_id=agreement_id)

    emit(read_with(store, "audit", go), as_json)

