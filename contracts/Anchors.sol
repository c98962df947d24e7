// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IAnchors} from "./interfaces/IAnchors.sol";
import {Membership} from "./Membership.sol";

abstract contract Anchors is IAnchors, Membership {
    mapping(bytes32 root => Anchor) private _anchors;

    /// @inheritdoc IAnchors
    function anchor(AnchorKind kind, bytes32 root, uint40 leafCount, bytes32 ref)
        external
        returns (uint256 sequence)
    {
        _requireAnchorRole(kind);
        _requireTree(root, leafCount);
        Anchor memory existing = _anchors[root];
        if (existing.sequence != 0) {
            _requireOwnAnchor(root, existing, kind);
            revert RootAlreadyAnchored(root, existing.sequence);
        }
        return _record(kind, root, leafCount, ref);
    }

    /// @inheritdoc IAnchors
    function anchorMany(
        AnchorKind kind,
        bytes32[] calldata roots,
        uint40[] calldata leafCounts,
        bytes32[] calldata refs
    ) external returns (uint256 anchored) {
        _requireAnchorRole(kind);
        uint256 count = roots.length;
        if (leafCounts.length != count || refs.length != count) {
            revert AnchorListsDiffer(count, leafCounts.length, refs.length);
        }
        for (uint256 i; i < count; ++i) {
            bytes32 root = roots[i];
            _requireTree(root, leafCounts[i]);
            Anchor memory existing = _anchors[root];
            if (existing.sequence == 0) {
                _record(kind, root, leafCounts[i], refs[i]);
                ++anchored;
            } else {
                // Only the caller's own earlier anchor of this kind counts as done (a retry).
                _requireOwnAnchor(root, existing, kind);
            }
        }
    }

    function anchorOf(bytes32 root) public view returns (Anchor memory) {
        return _anchors[root];
    }

    function anchorCount() external view returns (uint256) {
        return _counters.anchors;
    }

    function _requireAnchorRole(AnchorKind kind) private view {
        bytes32 role = kind == AnchorKind.DataBatch ? PROVIDER_ROLE : OPERATOR_ROLE;
        if (!hasRole(role, msg.sender)) revert NotAllowedToAnchor(msg.sender, kind);
    }

    /// @dev A root someone else anchored, or anchored as another kind, is refused loudly: the
    /// chain must never suggest that the caller's tree is anchored under another owner or kind.
    function _requireOwnAnchor(bytes32 root, Anchor memory existing, AnchorKind kind) private view {
        if (existing.submitter != msg.sender || existing.kind != kind) {
            revert RootAnchoredByOther(root, existing.kind, existing.submitter);
        }
    }

    function _requireTree(bytes32 root, uint40 leafCount) private pure {
        if (root == bytes32(0)) revert EmptyRoot();
        if (leafCount == 0) revert EmptyTree();
    }

    function _record(AnchorKind kind, bytes32 root, uint40 leafCount, bytes32 ref) private returns (uint48 next) {
        next = ++_counters.anchors;
        _anchors[root] = Anchor({submitter: msg.sender, kind: kind, leafCount: leafCount, sequence: next});
        emit Anchored(root, kind, msg.sender, next, leafCount, ref);
    }

    /// @inheritdoc IAnchors
    function verifyInclusion(bytes32 root, bytes32 leaf, bytes32[] calldata proof) public view returns (bool) {
        return _anchors[root].sequence != 0 && MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
