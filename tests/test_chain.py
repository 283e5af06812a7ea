"""The write-time chain's pure parts: RFC 6962 Merkle trees (the published test vectors), leaves, links, and the
offline check of an inclusion proof (a real one passes; every forged part fails, naming the step)."""

from __future__ import annotations

import copy
import hashlib
import uuid
from datetime import date
from typing import Any

import pytest

from commands.messages import RecordWorkforce
from eventstore.bootstrap import Ledger, bootstrap
from eventstore.chain import (
    InvalidProof,
    check_proof,
    inclusion_path,
    leaf_hash,
    merkle_root,
    root_from_path,
    runs,
    write_leaves,
)
from projections.chain_audit import prove, seal
from tests.conftest import execute
from tests.tamper import edited_state

# RFC 6962 test data (certificate-transparency's reference tree): leaf inputs and the tree heads of sizes 1..8
RFC6962_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
RFC6962_PATHS = {  # 0-based leaf index in the tree of 8
    0: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    5: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
RFC_LEAVES = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in RFC6962_INPUTS]


def test_merkle_root_matches_the_rfc6962_tree_heads() -> None:
    assert [merkle_root(RFC_LEAVES[:n]).hex() for n in range(1, 9)] == RFC6962_ROOTS


def test_inclusion_paths_match_the_rfc6962_vectors_and_lead_to_the_root() -> None:
    for index, expected in RFC6962_PATHS.items():
        path = inclusion_path(RFC_LEAVES, index)
        assert [p.hex() for p in path] == expected
        assert root_from_path(RFC_LEAVES[index], index, 8, path).hex() == RFC6962_ROOTS[7]


def test_every_leaf_of_every_tree_size_proves_and_a_wrong_one_does_not() -> None:
    for size in range(1, 40):
        leaves = [hashlib.sha256(b"%d-%d" % (size, i)).digest() for i in range(size)]
        root = merkle_root(leaves)
        for i in range(size):
            path = inclusion_path(leaves, i)
            assert root_from_path(leaves[i], i, size, path) == root
            assert root_from_path(leaves[(i + 1) % size], i, size, path) != root or size == 1
            if path:
                with pytest.raises(InvalidProof):
                    root_from_path(leaves[i], i, size, [*path, path[0]])  # too long for this tree
                with pytest.raises(InvalidProof):
                    root_from_path(leaves[i], i, size, path[:-1])  # too short
    with pytest.raises(InvalidProof):
        root_from_path(RFC_LEAVES[0], 8, 8, [])


def test_the_write_paths_leaves_equal_the_reference_leaf_of_each_event() -> None:
    state = b'{"amount_rp":16800}'
    events = [(uuid.UUID(int=k), k + 1, "ledger.events:ContributionPaid" if k % 2 else "ledger.events:X",
               state if k % 3 else b'{"other":1}') for k in range(7)]
    leaves = write_leaves(41, events)
    assert [leaves[32 * k : 32 * k + 32] for k in range(7)] == [
        leaf_hash(41 + k, i.hex.encode(), b"%d" % v, t.encode(), s) for k, (i, v, t, s) in enumerate(events)]
    # the framing is unambiguous: moving a byte between two fields changes the leaf
    assert leaf_hash(1, b"ab", b"1", b"t", b"s") != leaf_hash(1, b"a", b"b1", b"t", b"s")
    assert leaf_hash(1, b"a", b"1", b"t", None) != leaf_hash(1, b"a", b"1", b"t", b"")


def test_runs_split_at_holes_and_at_the_limit() -> None:
    assert runs([1, 2, 3, 5, 6, 9], limit=2) == [(0, 2), (2, 3), (3, 5), (5, 6)]
    assert runs([]) == []


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A memory store with five writes, a proof of an event in the second one, and the sealed head."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAMSOS_KEY_FILE", str(tmp_path_factory.mktemp("keys") / "k.key"))
        ledger: Ledger = bootstrap("memory://")
        for k in range(5):
            execute(ledger, RecordWorkforce(region_code=f"61.{71 + k}", workforce=1000 + k, source="test",
                                            effective_on=date(2025, 1, 1), command_id=f"wf-{k}"))
        sealed = seal(ledger.store)
        proof = prove(ledger.store, 3)
        yield proof, sealed["hash"], ledger
        ledger.close()


def test_a_real_proof_checks_offline_up_to_the_sealed_head(proved: Any) -> None:
    proof, head, ledger = proved
    assert proof["batch"] == 2 and len(proof["links"]) == 4
    result = check_proof(proof, head)
    assert result == {"ok": True, "position": 3, "batch": 2, "head_batch": 5, "head": head}
    state = ledger.store.raw_event(3)[4]
    assert check_proof(proof, head, state)["ok"]
    edited = edited_state(state, "1001", "1002")
    assert edited != state
    with pytest.raises(InvalidProof, match="stored bytes"):
        check_proof(proof, head, edited)


def _forged(proof: dict[str, Any], change: Any) -> dict[str, Any]:
    forged = copy.deepcopy(proof)
    change(forged)
    return forged


def _flip(hex_text: str) -> str:
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda p: p["event"].update(state_sha256=_flip(p["event"]["state_sha256"])), "leaf"),
    (lambda p: p["event"].update(version=p["event"]["version"] + 1), "leaf"),
    (lambda p: p["event"].update(position=4), "leaf"),
    (lambda p: p.update(leaf=_flip(p["leaf"])), "leaf"),
    (lambda p: p["path"].__setitem__(0, _flip(p["path"][0])), "Merkle path"),
    (lambda p: p["path"].pop(), "shorter"),
    (lambda p: p["links"][0].update(root=_flip(p["links"][0]["root"])), "Merkle path"),
    (lambda p: p["links"][1].update(kind="upgrade"), "batch 3: its hash"),
    (lambda p: p["links"][2].update(hash=_flip(p["links"][2]["hash"])), "batch 4: its hash"),
    (lambda p: p["links"].pop(1), "does not follow"),
    (lambda p: p["head"].update(hash=_flip(p["head"]["hash"])), "proof's head"),
    (lambda p: p["links"][0].pop("previous"), "malformed"),
    (lambda p: p.update(path="zz"), "not hexadecimal"),
])
def test_a_forged_proof_fails_naming_the_step(proved: Any, change: Any, reason: str) -> None:
    proof, head, _ = proved
    with pytest.raises(InvalidProof, match=reason):
        check_proof(_forged(proof, change), head)


def test_a_proof_to_another_head_fails_against_the_sealed_one(proved: Any) -> None:
    proof, head, _ = proved
    shorter = _forged(proof, lambda p: (p["links"].pop(), p.update(head={**p["head"], "hash": p["links"][-1]["hash"]})))
    assert check_proof(shorter)["head_batch"] == 4  # a sound proof up to batch 4 ...
    with pytest.raises(InvalidProof, match="sealed head"):
        check_proof(shorter, head)  # ... is not a proof up to the head the auditor sealed
