from __future__ import annotations

import os
import subprocess
import sys

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from ledger_api.anchoring.anchorer import AnchorKind, InMemoryAnchorer
from ledger_api.anchoring.merkle import (
    MerkleTree,
    hash_pair,
    join_subtrees,
    prove,
    record_leaf,
    record_leaf_reference,
    subtree_leaf_ranges,
    verify_proof,
)
from ledger_api.errors import ConflictError, InputError


def _leaves(n: int) -> list[bytes]:
    return [keccak(i.to_bytes(4, "big")) for i in range(n)]


def test_fast_leaf_encoding_equals_eth_abi_double_hash() -> None:
    salt, uid, subject, digest = (os.urandom(32) for _ in range(4))
    expected = keccak(
        keccak(encode(["bytes32", "bytes32", "bytes32", "uint8", "bytes32"],
                      [salt, uid, subject, 7, digest]))
    )  # fmt: skip
    assert record_leaf(salt, uid, subject, 7, digest) == expected
    assert record_leaf_reference(salt, uid, subject, 7, digest) == expected


def test_pair_hashing_is_commutative_sorted_keccak_like_openzeppelin() -> None:
    a, b = keccak(b"a"), keccak(b"b")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 31, 100])
def test_every_proof_verifies_for_any_tree_size(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree(leaves)
    packed = tree.packed_proofs()
    for i in range(n):
        proof = prove(leaves, i)
        assert verify_proof(proof, tree.root, leaves[i])
        assert b"".join(proof) == packed[i] == tree.packed_proof(i)


def test_a_tree_joined_from_its_subtrees_has_the_whole_trees_root_and_proofs() -> None:
    # How the ingest pool builds a batch's tree: each node at one depth is built from its
    # leaves alone, then the nodes are joined. Every size up to 200 at every depth it has
    # (the leaves of one node lie on two levels for most sizes), and two batch-sized trees.
    for n, depths in [
        *((n, range(n.bit_length())) for n in range(1, 201)),
        (5818, [4]),
        (34902, [4]),
    ]:
        leaves = _leaves(n)
        whole = MerkleTree(leaves)
        expected = whole.packed_proofs()
        for depth in depths:
            groups = subtree_leaf_ranges(n, depth)
            assert len(groups) == 2**depth
            assert sorted(i for ranges in groups for r in ranges for i in r) == list(range(n))
            subtrees = [MerkleTree([leaves[i] for r in ranges for i in r]) for ranges in groups]
            root, tops = join_subtrees([t.root for t in subtrees])
            assert root == whole.root
            for ranges, subtree, top in zip(groups, subtrees, tops, strict=True):
                indexes = [i for r in ranges for i in r]
                proofs = [p + top for p in subtree.packed_proofs()]
                assert proofs == [expected[i] for i in indexes], (n, depth)


def test_a_level_below_the_leaves_has_no_subtrees() -> None:
    with pytest.raises(InputError):
        subtree_leaf_ranges(7, 3)  # 8 nodes at depth 3 need 8 leaves


def test_proof_fails_for_other_leaf_or_root() -> None:
    leaves = _leaves(10)
    tree = MerkleTree(leaves)
    assert not verify_proof(tree.proof(3), tree.root, leaves[4])
    assert not verify_proof(tree.proof(3), keccak(b"other"), leaves[3])


def test_matches_openzeppelin_standard_tree_layout_for_three_leaves() -> None:
    # StandardMerkleTree (unsorted): tree = [root, h(l0,l1)?..]: leaves at the end, reversed.
    l0, l1, l2 = _leaves(3)
    inner = hash_pair(l1, l0)  # positions 3,4 hold l1,l0 -> node 1
    root = hash_pair(inner, l2)  # node 2 is l2
    assert MerkleTree([l0, l1, l2]).root == root


def test_in_memory_anchorer_refuses_to_overwrite_a_root() -> None:
    anchorer = InMemoryAnchorer()
    root = keccak(b"root")
    receipt = anchorer.anchor(AnchorKind.DATA_BATCH, root, 3, b"\x01" * 32)
    assert anchorer.anchored(root) is not None
    assert anchorer.anchored(root).sequence == receipt.sequence  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        anchorer.anchor(AnchorKind.DATA_BATCH, root, 3, b"\x01" * 32)
    assert anchorer.anchored(keccak(b"other")) is None


def test_the_chain_libraries_hash_with_the_fastest_installed_keccak() -> None:
    # eth_hash picks its backend at the first hash of the process: a fresh interpreter.
    probe = (
        "import ledger_api\n"
        "from eth_hash.auto import keccak\n"
        "keccak(b'')\n"
        "print(type(keccak.hasher.__self__).__module__)\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "eth_hash.backends.pysha3"
