// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessLevel, GrantCheck, Purpose} from "./LedgerTypes.sol";

/// @title Grants: a subject's authorisation of an institution (授权).
/// @notice Issued by the subject directly or by an EIP-712 signature that anyone relays (singly or
/// in batches), revoked only by the subject. {checkGrant} is the one canonical answer to "may
/// institution I read category C of this grant's subject for purpose P at level L now?".
interface IGrants {
    /// @notice What a subject authorises. Timestamps are unix seconds; the window is [notBefore, notAfter).
    struct GrantTerms {
        address institution;
        uint32 categories;
        Purpose purpose;
        AccessLevel level;
        uint64 notBefore;
        uint64 notAfter;
        uint32 maxUses; // 0: no usage cap
    }

    /// @notice A grant signed off chain, relayed by anyone.
    struct SignedGrant {
        GrantTerms terms;
        address signer;
        uint64 deadline;
        bytes signature;
    }

    /// @notice A signed grant inside a batch: an EIP-2098 compact signature (r, vs) keeps the
    /// struct static, so a batch decodes without per-item offsets (about 3,000 gas an item less).
    /// Smart-contract (ERC-1271) wallets, whose signatures are arbitrary bytes, relay singly.
    struct CompactSignedGrant {
        GrantTerms terms;
        address signer;
        uint64 deadline;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A live grant as stored. `subjectIndex` and `institutionIndex` map through Membership.
    struct Grant {
        uint32 subjectIndex;
        uint32 institutionIndex;
        uint32 categories;
        Purpose purpose;
        AccessLevel level;
        uint64 notBefore;
        uint64 notAfter;
        uint32 maxUses;
    }

    /// @notice Why a batch item was skipped (None: issued).
    enum GrantSkip {
        None,
        NotASubject,
        DeadlinePassed,
        SignatureOrNonceInvalid, // also: its nonce was used or raised since it was signed
        UnknownInstitution,
        InvalidTerms
    }

    error InvalidGrantTerms();
    error UnknownGrant(uint256 grantId);
    error GrantAlreadyRevoked(uint256 grantId);
    error NotGrantSubject(uint256 grantId, address caller);
    error EmptyBatch();

    /// @param terms the grant's storage word: see the layout in Grants.sol. One packed word
    /// instead of six fields keeps the event (emitted once per grant, often 50 to a transaction)
    /// about 2,500 gas cheaper; the indexer decodes it with ledger_api/chain/grant_layout.py.
    event GrantIssued(
        uint256 indexed grantId, uint32 indexed subjectIndex, address indexed institution, uint256 terms
    );
    /// @notice A batch item that could not be used; `index` is its position in the batch.
    event GrantSkipped(uint256 indexed index, address indexed signer, GrantSkip reason);
    /// @dev Carries the institution's index, not its address: looking the address up would cost
    /// a cold storage read on every revocation, and GrantIssued already links the two.
    event GrantRevoked(uint256 indexed grantId, uint32 indexed subjectIndex, uint32 indexed institutionIndex);

    /// @notice Issues a grant from the caller's subject.
    function issueGrant(GrantTerms calldata terms) external returns (uint256 grantId);

    /// @notice Issues a grant signed (EIP-712 `Grant`) by the subject's bound address.
    function issueGrantBySig(SignedGrant calldata signed) external returns (uint256 grantId);

    /// @notice Issues many signed grants in one transaction; the issued ones get consecutive ids
    /// from `firstGrantId`, in batch order. An item that cannot be used (unbound signer, passed
    /// deadline, bad signature or spent nonce, unknown institution, invalid terms) is skipped
    /// with a `GrantSkipped` event instead of reverting the batch.
    function issueGrantsBySig(CompactSignedGrant[] calldata signed) external returns (uint256 firstGrantId);

    /// @notice Revokes a grant of the caller's subject. Final.
    function revokeGrant(uint256 grantId) external;

    /// @notice Revokes a grant with the subject's EIP-712 `Revocation` signature.
    function revokeGrantBySig(uint256 grantId, address signer, uint64 deadline, bytes calldata signature) external;

    /// @notice The canonical usability check. `usedCount` is the number of allowed accesses under
    /// this grant recorded so far in the (anchored) access log, compared with the usage cap.
    function checkGrant(
        uint256 grantId,
        address institution,
        uint8 category,
        Purpose purpose,
        AccessLevel level,
        uint32 usedCount
    ) external view returns (GrantCheck);

    /// @notice The stored grant; `revoked` is true for a revoked grant (whose terms are then zero).
    function grant(uint256 grantId) external view returns (Grant memory stored, bool revoked);

    function grantCount() external view returns (uint256);
}
