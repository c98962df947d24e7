// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Agreements} from "./Agreements.sol";
import {IGrants} from "./interfaces/IGrants.sol";
import {AccessLevel, GrantCheck, Purpose} from "./interfaces/LedgerTypes.sol";

abstract contract Grants is IGrants, Agreements {
    /// @dev keccak256("Grant(address institution,uint32 categories,uint8 purpose,uint8 level,uint64 notBefore,uint64 notAfter,uint32 maxUses,uint256 nonce,uint64 deadline)")
    bytes32 public constant GRANT_TYPEHASH = 0x5570dcc01986022d3f77119384a3d313bf1aba7c4b500738fa0ba0b7454cec0a;
    /// @dev keccak256("Revocation(uint256 grantId,uint256 nonce,uint64 deadline)")
    bytes32 public constant REVOCATION_TYPEHASH = 0x648afddb56abce25a9da961539ca413df2d9b5b4bcc996f169e20ecfa16e088e;

    /// @dev A live grant is ONE storage word, so issuing one costs a single new slot. Layout,
    /// from the lowest bit: subjectIndex (32) | institutionIndex (32) | categories (32) |
    /// purpose (8) | level (8) | notBefore (40) | notAfter (40) | maxUses (32) = 224 bits.
    /// Timestamps are 40 bits (good until year 36812) for that reason only. GrantIssued emits the
    /// same word, so there is one layout to decode (ledger_api/chain/grant_layout.py).
    /// Revocation deletes the word (gas refund); an issued id whose word is empty is revoked,
    /// which also makes revocation final by construction.
    mapping(uint256 grantId => uint256 packed) private _grants;

    /// @inheritdoc IGrants
    function issueGrant(GrantTerms calldata terms) external returns (uint256 grantId) {
        grantId = ++_counters.grants;
        _storeGrant(grantId, _callerSubject(), terms);
    }

    /// @inheritdoc IGrants
    function issueGrantBySig(SignedGrant calldata signed) external returns (uint256 grantId) {
        grantId = ++_counters.grants;
        _storeGrant(grantId, _verifySignedGrant(signed), signed.terms);
    }

    /// @inheritdoc IGrants
    function issueGrantsBySig(CompactSignedGrant[] calldata signed) external returns (uint256 firstGrantId) {
        uint256 count = signed.length;
        if (count == 0) revert EmptyBatch();
        firstGrantId = _counters.grants + 1;
        uint256 next = firstGrantId;
        for (uint256 i = 0; i < count; ++i) {
            CompactSignedGrant calldata item = signed[i];
            GrantSkip skip = _tryIssueCompact(next, item);
            if (skip == GrantSkip.None) {
                ++next;
            } else {
                emit GrantSkipped(i, item.signer, skip);
            }
        }
        _counters.grants = uint64(next - 1);
    }

    /// @dev One batch item, issued as `grantId` or skipped with the reason: anyone can make an
    /// item unusable (relay it alone, or its subject raises its nonce), and that must not sink
    /// the other subjects' grants. Nothing is written for a skipped item.
    function _tryIssueCompact(uint256 grantId, CompactSignedGrant calldata item) private returns (GrantSkip) {
        Account storage account = _accounts[item.signer];
        uint32 subjectIndex = account.subjectIndex;
        if (subjectIndex == 0) return GrantSkip.NotASubject;
        if (block.timestamp > item.deadline) return GrantSkip.DeadlinePassed;
        uint256 nonce = account.nonce;
        if (!_compactSignatureValid(item.signer, _grantStructHash(item.terms, nonce, item.deadline), item.r, item.vs)) {
            return GrantSkip.SignatureOrNonceInvalid;
        }
        uint32 institutionIndex = _institutions[item.terms.institution].index;
        if (institutionIndex == 0) return GrantSkip.UnknownInstitution;
        if (!_termsValid(item.terms)) return GrantSkip.InvalidTerms;
        account.nonce = uint64(nonce + 1);
        _writeGrant(grantId, subjectIndex, institutionIndex, item.terms);
        return GrantSkip.None;
    }

    /// @inheritdoc IGrants
    function revokeGrant(uint256 grantId) external {
        _revoke(grantId, _callerSubject(), msg.sender);
    }

    /// @inheritdoc IGrants
    function revokeGrantBySig(uint256 grantId, address signer, uint64 deadline, bytes calldata signature) external {
        (uint32 subjectIndex, uint256 nonce) = _useSubjectNonce(signer);
        _requireSignature(signer, keccak256(abi.encode(REVOCATION_TYPEHASH, grantId, nonce, deadline)), deadline, signature);
        _revoke(grantId, subjectIndex, signer);
    }

    /// @inheritdoc IGrants
    function checkGrant(
        uint256 grantId,
        address institution,
        uint8 category,
        Purpose purpose,
        AccessLevel level,
        uint32 usedCount
    ) external view returns (GrantCheck) {
        uint256 word = _grants[grantId];
        if (word == 0) return _isIssued(grantId) ? GrantCheck.Revoked : GrantCheck.UnknownGrant;
        Grant memory stored = _unpack(word);
        Institution memory member = _institutions[institution];
        if (member.index == 0) return GrantCheck.UnknownInstitution;
        if (member.index != stored.institutionIndex) return GrantCheck.WrongInstitution;
        if (member.suspended) return GrantCheck.InstitutionSuspended;
        if (block.timestamp < stored.notBefore) return GrantCheck.NotYetValid;
        if (block.timestamp >= stored.notAfter) return GrantCheck.Expired;
        if (category >= 32 || stored.categories & (uint32(1) << category) == 0) return GrantCheck.CategoryNotGranted;
        if (purpose != stored.purpose) return GrantCheck.PurposeMismatch;
        if (level > stored.level) return GrantCheck.LevelTooLow;
        if (member.agreementId == 0) return GrantCheck.NoAgreement;
        Agreement memory terms = _agreements[member.agreementId];
        if (
            terms.status != AgreementStatus.Active || block.timestamp < terms.notBefore
                || block.timestamp >= terms.notAfter
        ) return GrantCheck.AgreementNotActive;
        if (terms.categories & (uint32(1) << category) == 0) return GrantCheck.CategoryNotInAgreement;
        if (terms.purposes & (uint16(1) << uint8(purpose)) == 0) return GrantCheck.PurposeNotInAgreement;
        if (stored.maxUses != 0 && usedCount >= stored.maxUses) return GrantCheck.UsageCapReached;
        return GrantCheck.Usable;
    }

    /// @inheritdoc IGrants
    function grant(uint256 grantId) external view returns (Grant memory stored, bool revoked) {
        if (!_isIssued(grantId)) revert UnknownGrant(grantId);
        uint256 word = _grants[grantId];
        return (_unpack(word), word == 0);
    }

    function grantCount() external view returns (uint256) {
        return _counters.grants;
    }

    function _isIssued(uint256 grantId) private view returns (bool) {
        return grantId != 0 && grantId <= _counters.grants;
    }

    function _verifySignedGrant(SignedGrant calldata signed) private returns (uint32 subjectIndex) {
        uint256 nonce;
        (subjectIndex, nonce) = _useSubjectNonce(signed.signer);
        _requireSignature(
            signed.signer, _grantStructHash(signed.terms, nonce, signed.deadline), signed.deadline, signed.signature
        );
    }

    /// @dev EIP-712 hashStruct(Grant). GrantTerms is a static struct whose seven words lie in
    /// calldata in the Grant type's field order, so they are hashed in place rather than
    /// re-encoded field by field (about 1,000 gas an item in a batch). Dirty words cannot slip
    /// through: _storeGrant reads every field through the ABI decoder, which reverts on them.
    function _grantStructHash(GrantTerms calldata t, uint256 nonce, uint64 deadline) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, GRANT_TYPEHASH)
            calldatacopy(add(ptr, 0x20), t, 0xe0)
            mstore(add(ptr, 0x100), nonce)
            mstore(add(ptr, 0x120), deadline)
            h := keccak256(ptr, 0x140)
        }
    }

    function _storeGrant(uint256 grantId, uint32 subjectIndex, GrantTerms calldata terms) private {
        uint32 institutionIndex = _requireInstitution(terms.institution).index;
        if (!_termsValid(terms)) revert InvalidGrantTerms();
        _writeGrant(grantId, subjectIndex, institutionIndex, terms);
    }

    function _termsValid(GrantTerms calldata terms) private pure returns (bool) {
        return terms.categories != 0 && terms.notBefore < terms.notAfter && terms.notAfter <= type(uint40).max;
    }

    function _writeGrant(uint256 grantId, uint32 subjectIndex, uint32 institutionIndex, GrantTerms calldata terms)
        private
    {
        uint256 word = uint256(subjectIndex) | uint256(institutionIndex) << 32 | uint256(terms.categories) << 64
            | uint256(uint8(terms.purpose)) << 96 | uint256(uint8(terms.level)) << 104
            | uint256(terms.notBefore) << 112 | uint256(terms.notAfter) << 152 | uint256(terms.maxUses) << 192;
        _grants[grantId] = word;
        emit GrantIssued(grantId, subjectIndex, terms.institution, word);
    }

    function _unpack(uint256 word) private pure returns (Grant memory) {
        return Grant({
            subjectIndex: uint32(word),
            institutionIndex: uint32(word >> 32),
            categories: uint32(word >> 64),
            purpose: Purpose(uint8(word >> 96)),
            level: AccessLevel(uint8(word >> 104)),
            notBefore: uint40(word >> 112),
            notAfter: uint40(word >> 152),
            maxUses: uint32(word >> 192)
        });
    }

    function _revoke(uint256 grantId, uint32 subjectIndex, address caller) private {
        uint256 word = _grants[grantId];
        // The counter is read only on this cold path: a live grant's word is never empty.
        if (word == 0) {
            if (_isIssued(grantId)) revert GrantAlreadyRevoked(grantId);
            revert UnknownGrant(grantId);
        }
        if (uint32(word) != subjectIndex) revert NotGrantSubject(grantId, caller);
        uint32 institutionIndex = uint32(word >> 32);
        delete _grants[grantId];
        emit GrantRevoked(grantId, subjectIndex, institutionIndex);
    }
}
