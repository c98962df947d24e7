"""Merkle trees compatible with OpenZeppelin ``MerkleProof`` and the anchoring interface."""
