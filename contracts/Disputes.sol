// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Anchors} from "./Anchors.sol";
import {IDisputes} from "./interfaces/IDisputes.sol";

abstract contract Disputes is IDisputes, Anchors {
    /// @dev keccak256("OpenDispute(uint8 kind,bytes32 anchorRoot,bytes32 leaf,bytes32 reasonHash,uint256 nonce,uint64 deadline)")
    bytes32 public constant OPEN_DISPUTE_TYPEHASH = 0x08ce2fd07e23743311838d620acfdd7064828a2b992469fb856b4112354d4d93;

    mapping(uint256 disputeId => Dispute) private _disputes;
    /// @dev The open dispute about a record leaf, if any: one open dispute per record.
    mapping(bytes32 leaf => uint256 disputeId) private _openDisputeOf;

    /// @inheritdoc IDisputes
    function openDispute(
        DisputeKind kind,
        bytes32 anchorRoot,
        RecordLeaf calldata record,
        bytes32[] calldata proof,
        bytes32 reasonHash
    ) external returns (uint256) {
        return _open(_callerSubject(), kind, anchorRoot, record, proof, reasonHash);
    }

    /// @inheritdoc IDisputes
    function openDisputeBySig(
        DisputeKind kind,
        bytes32 anchorRoot,
        RecordLeaf calldata record,
        bytes32[] calldata proof,
        bytes32 reasonHash,
        address signer,
        uint64 deadline,
        bytes calldata signature
    ) external returns (uint256) {
        (uint32 subjectIndex, uint256 nonce) = _useSubjectNonce(signer);
        bytes32 leaf = recordLeaf(record);
        _requireSignature(
            signer,
            keccak256(abi.encode(OPEN_DISPUTE_TYPEHASH, kind, anchorRoot, leaf, reasonHash, nonce, deadline)),
            deadline,
            signature
        );
        return _open(subjectIndex, kind, anchorRoot, record, proof, reasonHash);
    }

    /// @inheritdoc IDisputes
    function resolveDispute(uint256 disputeId, DisputeOutcome outcome, bytes32 resolutionHash)
        external
        onlyRole(OPERATOR_ROLE)
    {
        Dispute storage stored = _disputes[disputeId];
        if (stored.status == DisputeStatus.None) revert UnknownDispute(disputeId);
        if (stored.status != DisputeStatus.Open) revert DisputeNotOpen(disputeId);
        bool allowed = outcome == DisputeOutcome.Rejected
            || (stored.kind == DisputeKind.Objection && outcome == DisputeOutcome.Upheld)
            || (stored.kind == DisputeKind.CreditRepair && outcome == DisputeOutcome.Repaired);
        if (!allowed) revert InvalidOutcome(stored.kind, outcome);
        stored.status = DisputeStatus.Resolved;
        delete _openDisputeOf[stored.leaf];
        stored.outcome = outcome;
        stored.resolvedAt = uint64(block.timestamp);
        emit DisputeResolved(disputeId, stored.subjectIndex, stored.leaf, outcome, resolutionHash);
    }

    function dispute(uint256 disputeId) external view returns (Dispute memory) {
        return _disputes[disputeId];
    }

    /// @inheritdoc IDisputes
    function recordLeaf(RecordLeaf calldata record) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(record))));
    }

    function openDisputeOf(bytes32 leaf) external view returns (uint256) {
        return _openDisputeOf[leaf];
    }

    function disputeCount() external view returns (uint256) {
        return _counters.disputes;
    }

    function _open(
        uint32 subjectIndex,
        DisputeKind kind,
        bytes32 anchorRoot,
        RecordLeaf calldata record,
        bytes32[] calldata proof,
        bytes32 reasonHash
    ) private returns (uint256 disputeId) {
        // The leaf is recomputed from its preimage (double-hashed, so no inner node of a tree
        // can pass for it) and names the disputing subject: only a real record of one's own.
        if (record.subjectId != _subjects[subjectIndex].id) revert NotSubjectsRecord(record.recordUid);
        bytes32 leaf = recordLeaf(record);
        if (anchorOf(anchorRoot).kind != AnchorKind.DataBatch || !verifyInclusion(anchorRoot, leaf, proof)) {
            revert RecordNotInAnchor(anchorRoot, leaf);
        }
        uint256 open = _openDisputeOf[leaf];
        if (open != 0) revert DisputeAlreadyOpen(leaf, open);
        disputeId = ++_counters.disputes;
        _openDisputeOf[leaf] = disputeId;
        _disputes[disputeId] = Dispute({
            subjectIndex: subjectIndex,
            kind: kind,
            status: DisputeStatus.Open,
            outcome: DisputeOutcome.None,
            openedAt: uint64(block.timestamp),
            resolvedAt: 0,
            anchorRoot: anchorRoot,
            leaf: leaf
        });
        emit DisputeOpened(disputeId, subjectIndex, leaf, kind, anchorRoot, reasonHash);
    }
}
