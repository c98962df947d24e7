// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Disputes: objections (异议) and credit-repair requests (信用修复) about anchored records.
/// @notice A subject opens one about a record it proves is in an anchored data batch (leaf +
/// inclusion proof); the operator resolves it with an outcome. Status is readable and emitted.
interface IDisputes {
    enum DisputeKind {
        Objection,
        CreditRepair
    }

    enum DisputeStatus {
        None,
        Open,
        Resolved
    }

    enum DisputeOutcome {
        None,
        Upheld, // the record was wrong: withdrawn or corrected
        Rejected, // the record stands
        Repaired // credit repaired: the record is no longer shown to institutions
    }

    /// @notice The preimage of a data record's Merkle leaf, as the platform seals it:
    /// leaf = keccak256(keccak256(abi.encode(salt, recordUid, subjectId, category, contentDigest)))
    /// (OpenZeppelin StandardMerkleTree's double-hashed leaf). `contentDigest` is
    /// sha256(nonce || ciphertext) of the sealed record.
    struct RecordLeaf {
        bytes32 salt;
        bytes32 recordUid;
        bytes32 subjectId;
        uint8 category;
        bytes32 contentDigest;
    }

    /// @dev Three slots: the packed status, then the anchor root and the leaf.
    struct Dispute {
        uint32 subjectIndex;
        DisputeKind kind;
        DisputeStatus status;
        DisputeOutcome outcome;
        uint64 openedAt;
        uint64 resolvedAt;
        bytes32 anchorRoot;
        bytes32 leaf;
    }

    error RecordNotInAnchor(bytes32 root, bytes32 leaf);
    error UnknownDispute(uint256 disputeId);
    error DisputeNotOpen(uint256 disputeId);
    error InvalidOutcome(DisputeKind kind, DisputeOutcome outcome);
    error NotSubjectsRecord(bytes32 recordUid);
    error DisputeAlreadyOpen(bytes32 leaf, uint256 disputeId);

    event DisputeOpened(
        uint256 indexed disputeId,
        uint32 indexed subjectIndex,
        bytes32 indexed leaf,
        DisputeKind kind,
        bytes32 anchorRoot,
        bytes32 reasonHash
    );
    event DisputeResolved(
        uint256 indexed disputeId, uint32 indexed subjectIndex, bytes32 indexed leaf, DisputeOutcome outcome, bytes32 resolutionHash
    );

    /// @notice Opens a dispute from the caller's subject about its record `record` (whose leaf
    /// `proof` proves in the data batch `anchorRoot`). One open dispute per record.
    function openDispute(
        DisputeKind kind,
        bytes32 anchorRoot,
        RecordLeaf calldata record,
        bytes32[] calldata proof,
        bytes32 reasonHash
    ) external returns (uint256 disputeId);

    /// @notice As {openDispute}, authorised by the subject's EIP-712 `OpenDispute` signature
    /// (which names the record's leaf, recomputed here from `record`).
    function openDisputeBySig(
        DisputeKind kind,
        bytes32 anchorRoot,
        RecordLeaf calldata record,
        bytes32[] calldata proof,
        bytes32 reasonHash,
        address signer,
        uint64 deadline,
        bytes calldata signature
    ) external returns (uint256 disputeId);

    /// @notice Resolves an open dispute. Operator only. Objections end Upheld or Rejected,
    /// credit-repair requests Repaired or Rejected.
    function resolveDispute(uint256 disputeId, DisputeOutcome outcome, bytes32 resolutionHash) external;

    function dispute(uint256 disputeId) external view returns (Dispute memory);

    function disputeCount() external view returns (uint256);

    /// @notice The leaf of `record`.
    function recordLeaf(RecordLeaf calldata record) external pure returns (bytes32);

    /// @notice The open dispute about `leaf`, 0 if none.
    function openDisputeOf(bytes32 leaf) external view returns (uint256);
}
