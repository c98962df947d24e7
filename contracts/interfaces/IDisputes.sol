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

    /// @notice Opens a dispute from the caller's subject about `leaf` of the data batch `anchorRoot`.
    function openDispute(
        DisputeKind kind,
        bytes32 anchorRoot,
        bytes32 leaf,
        bytes32[] calldata proof,
        bytes32 reasonHash
    ) external returns (uint256 disputeId);

    /// @notice As {openDispute}, authorised by the subject's EIP-712 `OpenDispute` signature.
    function openDisputeBySig(
        DisputeKind kind,
        bytes32 anchorRoot,
        bytes32 leaf,
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
}
