"""Merkle trees that OpenZeppelin ``MerkleProof.verify`` accepts.

Hashing is keccak256 over the sorted pair (commutative), exactly OZ ``Hashes.commutativeKeccak256``.
The tree layout is the one of OZ's JS ``StandardMerkleTree`` (a complete binary tree in an array,
leaf ``i`` at ``tree[len - 1 - i]``), without its leaf sorting so leaf indexes keep input order.
Leaves are double-hashed like StandardMerkleTree (``keccak256(keccak256(abi.encode(...)))``) so a
leaf can never be mistaken for an inner node.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode

from ledger_api.anchoring.keccak import keccak256, keccak256_hasher
from ledger_api.errors import InputError

LEAF_TYPES = ("bytes32", "bytes32", "bytes32", "uint8", "bytes32")


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b) if a < b else keccak256(b + a)


def record_leaf(
    salt: bytes, record_uid: bytes, subject_id: bytes, category: int, ciphertext_digest: bytes
) -> bytes:
    """``keccak256(keccak256(abi.encode(bytes32 salt, bytes32 recordUid, bytes32 subjectId,
    uint8 category, bytes32 sha256(nonce || ciphertext))))``.

    All five types are static, so ``abi.encode`` is the concatenation of 32-byte words; this
    hot path builds it directly (``tests/data_plane`` checks it against ``eth_abi.encode``).
    """
    if not 0 <= category < 256:
        raise InputError(f"category {category} does not fit uint8")
    encoded = salt + record_uid + subject_id + category.to_bytes(32, "big") + ciphertext_digest
    if len(encoded) != 160:
        raise InputError("salt, record uid, subject id and digest must each be 32 bytes")
    return keccak256(keccak256(encoded))


def record_leaf_reference(
    salt: bytes, record_uid: bytes, subject_id: bytes, category: int, ciphertext_digest: bytes
) -> bytes:
    """The same leaf through ``eth_abi.encode`` (slow; the definition the fast path must match)."""
    encoded = abi_encode(
        list(LEAF_TYPES), [salt, record_uid, subject_id, category, ciphertext_digest]
    )
    return keccak256(keccak256(encoded))


class MerkleTree:
    """A tree over ``leaves`` (32-byte hashes) in OZ StandardMerkleTree array layout."""

    __slots__ = ("leaf_count", "nodes")

    def __init__(self, leaves: Sequence[bytes]) -> None:
        n = len(leaves)
        if n == 0:
            raise InputError("a Merkle tree needs at least one leaf")
        size = 2 * n - 1
        nodes: list[bytes] = [b""] * size
        nodes[n - 1 :] = reversed(leaves)
        k = keccak256_hasher
        for i in range(n - 2, -1, -1):
            a = nodes[2 * i + 1]
            b = nodes[2 * i + 2]
            nodes[i] = k(a + b).digest() if a < b else k(b + a).digest()
        self.nodes = nodes
        self.leaf_count = n

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def leaf(self, index: int) -> bytes:
        return self.nodes[len(self.nodes) - 1 - index]

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < self.leaf_count:
            raise InputError(f"leaf index {index} out of range 0..{self.leaf_count - 1}")
        nodes = self.nodes
        position = len(nodes) - 1 - index
        siblings: list[bytes] = []
        while position > 0:
            siblings.append(nodes[position - 1 if position % 2 == 0 else position + 1])
            position = (position - 1) // 2
        return siblings

    def packed_proofs(self) -> list[bytes]:
        """Every leaf's packed proof (leaf order), top down: a node's proof is its sibling
        followed by its parent's proof, so each proof is one concatenation."""
        nodes = self.nodes
        size = len(nodes)
        suffix: list[bytes] = [b""] * size
        for p in range(1, size):
            suffix[p] = nodes[p - 1 if p % 2 == 0 else p + 1] + suffix[(p - 1) >> 1]
        last = size - 1
        return [suffix[last - i] for i in range(self.leaf_count)]

    def packed_proof(self, index: int) -> bytes:
        """The proof as concatenated 32-byte siblings (how records store it)."""
        return b"".join(self.proof(index))


def subtree_leaf_ranges(leaf_count: int, depth: int) -> list[list[range]]:
    """The leaf indexes under each node ``depth`` levels below the root, as ascending ranges.

    A tree can then be built in parts: the nodes at ``depth`` are the leaves of a perfect top
    tree, and node ``j`` of the result is that top tree's leaf ``j``. In this array layout a
    node's leaves lie on at most two levels, each a run of consecutive indexes, and the nodes
    below it form a tree of the same layout: ``MerkleTree`` over those leaves (ascending
    index) gives the node's hash and each leaf's proof up to it (see ``join_subtrees``).
    Needs ``2 ** depth <= leaf_count`` (every node at that depth exists).
    """
    if depth < 0 or leaf_count < 2**depth:
        raise InputError(f"a tree of {leaf_count} leaves has no complete level {depth}")
    last = 2 * leaf_count - 2  # the array's last position: leaf 0
    first_leaf = leaf_count - 1
    groups = []
    for j in range(2**depth):
        low = high = 2 ** (depth + 1) - 2 - j  # the node's position; then its descendants'
        ranges = []
        while low <= last:
            a, b = max(low, first_leaf), min(high, last)
            if a <= b:  # positions a..b are leaves: indexes last - b .. last - a
                ranges.append(range(last - b, last - a + 1))
            low, high = 2 * low + 1, 2 * high + 2
        groups.append(sorted(ranges, key=lambda r: r.start))
    return groups


def join_subtrees(roots: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """The root over the hashes of one level's nodes (``subtree_leaf_ranges`` order), and
    each node's packed proof up to it: a leaf's proof is its proof up to its node followed by
    that node's."""
    top = MerkleTree(roots)
    return top.root, top.packed_proofs()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return MerkleTree(leaves).root


def prove(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof of ``leaves[index]``, as OZ ``MerkleProof.verify`` takes it."""
    return MerkleTree(leaves).proof(index)


def process_proof(proof: Sequence[bytes], leaf: bytes) -> bytes:
    computed = leaf
    for sibling in proof:
        computed = hash_pair(computed, sibling)
    return computed


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """Python twin of OZ ``MerkleProof.verify(proof, root, leaf)``."""
    return process_proof(proof, leaf) == root


def pack_proof(proof: Sequence[bytes]) -> bytes:
    return b"".join(proof)


def unpack_proof(packed: bytes) -> list[bytes]:
    if len(packed) % 32:
        raise InputError("a packed proof is a multiple of 32 bytes")
    return [packed[i : i + 32] for i in range(0, len(packed), 32)]
