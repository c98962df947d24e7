"""Merkle trees compatible with OpenZeppelin ``MerkleProof``, the anchoring interface, and the
one anchor journal every anchored kind goes through (``journal``, ``kinds``)."""
