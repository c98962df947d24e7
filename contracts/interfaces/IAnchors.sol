// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Anchors: append-only registry of Merkle roots (data batches, access log, catalog, statuses).
/// @notice Trees are OpenZeppelin MerkleProof compatible (sorted-pair keccak256). A root is
/// anchored once and never overwritten. Providers anchor data batches; the operator the rest.
interface IAnchors {
    enum AnchorKind {
        DataBatch,
        AccessLog,
        CatalogVersion,
        RecordStatus,
        SubjectStatement
    }

    /// @dev One slot: submitter (160) + kind (8) + leafCount (40) + sequence (48).
    struct Anchor {
        address submitter;
        AnchorKind kind;
        uint40 leafCount;
        uint48 sequence;
    }

    error RootAlreadyAnchored(bytes32 root, uint256 sequence);
    /// @notice `root` is already anchored by another account or as another kind.
    error RootAnchoredByOther(bytes32 root, AnchorKind kind, address submitter);
    error EmptyRoot();
    error EmptyTree();
    error NotAllowedToAnchor(address account, AnchorKind kind);
    error RootNotAnchored(bytes32 root);
    error AnchorListsDiffer(uint256 roots, uint256 leafCounts, uint256 refs);

    /// @param sequence 1-based position of this anchor among all anchors.
    /// @param ref caller's id of what was anchored (e.g. the batch id), not interpreted.
    event Anchored(
        bytes32 indexed root,
        AnchorKind indexed kind,
        address indexed submitter,
        uint256 sequence,
        uint256 leafCount,
        bytes32 ref
    );

    /// @notice Anchors `root` of a tree of `leafCount` leaves.
    function anchor(AnchorKind kind, bytes32 root, uint40 leafCount, bytes32 ref)
        external
        returns (uint256 sequence);

    /// @notice Anchors several roots of one kind in one transaction, in order, each exactly as
    /// `anchor` would (its own sequence and `Anchored` event). A root the caller itself anchored
    /// before as the same kind (or earlier in the same lists) is skipped without an event, so a
    /// retried list completes; a root anchored by anyone else or as another kind reverts the call.
    /// @return anchored how many roots this call anchored.
    function anchorMany(
        AnchorKind kind,
        bytes32[] calldata roots,
        uint40[] calldata leafCounts,
        bytes32[] calldata refs
    ) external returns (uint256 anchored);

    /// @notice The anchor of `root`; `sequence` is 0 when it was never anchored.
    function anchorOf(bytes32 root) external view returns (Anchor memory);

    function anchorCount() external view returns (uint256);

    /// @notice True when `root` is anchored and `proof` proves `leaf` in it.
    function verifyInclusion(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);
}
