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

    /// @dev A live grant in ONE slot (32+32+32+8+8+40+40+32 = 224 bits): issuing costs a single
    /// new slot. Timestamps are uint40 (good until year 36812) for that reason only.
    /// Revocation deletes the slot (gas refund); ids below `_grantCount` with an empty slot are
    /// therefore revoked, which also makes revocation final by construction.
    struct StoredGrant {
        uint32 subjectIndex;
        uint32 institutionIndex;
        uint32 categories;
        Purpose purpose;
        AccessLevel level;
        uint40 notBefore;
        uint40 notAfter;
        uint32 maxUses;
    }

    mapping(uint256 grantId => StoredGrant) private _grants;
    uint256 private _grantCount;

    /// @inheritdoc IGrants
    function issueGrant(GrantTerms calldata terms) external returns (uint256 grantId) {
        grantId = ++_grantCount;
        _storeGrant(grantId, _callerSubject(), terms);
    }

    /// @inheritdoc IGrants
    function issueGrantBySig(SignedGrant calldata signed) external returns (uint256 grantId) {
        grantId = ++_grantCount;
        _storeGrant(grantId, _verifySignedGrant(signed), signed.terms);
    }

    /// @inheritdoc IGrants
    function issueGrantsBySig(SignedGrant[] calldata signed) external returns (uint256 firstGrantId) {
        uint256 count = signed.length;
        if (count == 0) revert EmptyBatch();
        firstGrantId = _grantCount + 1;
        for (uint256 i = 0; i < count; ++i) {
            _storeGrant(firstGrantId + i, _verifySignedGrant(signed[i]), signed[i].terms);
        }
        _grantCount = firstGrantId + count - 1;
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
        if (grantId == 0 || grantId > _grantCount) return GrantCheck.UnknownGrant;
        StoredGrant memory stored = _grants[grantId];
        if (stored.institutionIndex == 0) return GrantCheck.Revoked;
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
        if (grantId == 0 || grantId > _grantCount) revert UnknownGrant(grantId);
        StoredGrant memory packed = _grants[grantId];
        revoked = packed.institutionIndex == 0;
        stored = Grant({
            subjectIndex: packed.subjectIndex,
            institutionIndex: packed.institutionIndex,
            categories: packed.categories,
            purpose: packed.purpose,
            level: packed.level,
            notBefore: packed.notBefore,
            notAfter: packed.notAfter,
            maxUses: packed.maxUses
        });
    }

    function grantCount() external view returns (uint256) {
        return _grantCount;
    }

    function _verifySignedGrant(SignedGrant calldata signed) private returns (uint32 subjectIndex) {
        uint256 nonce;
        (subjectIndex, nonce) = _useSubjectNonce(signed.signer);
        GrantTerms calldata t = signed.terms;
        bytes32 structHash = keccak256(
            abi.encode(
                GRANT_TYPEHASH,
                t.institution,
                t.categories,
                t.purpose,
                t.level,
                t.notBefore,
                t.notAfter,
                t.maxUses,
                nonce,
                signed.deadline
            )
        );
        _requireSignature(signed.signer, structHash, signed.deadline, signed.signature);
    }

    function _storeGrant(uint256 grantId, uint32 subjectIndex, GrantTerms calldata terms) private {
        uint32 institutionIndex = _requireInstitution(terms.institution).index;
        if (terms.categories == 0 || terms.notBefore >= terms.notAfter || terms.notAfter > type(uint40).max) {
            revert InvalidGrantTerms();
        }
        _grants[grantId] = StoredGrant({
            subjectIndex: subjectIndex,
            institutionIndex: institutionIndex,
            categories: terms.categories,
            purpose: terms.purpose,
            level: terms.level,
            notBefore: uint40(terms.notBefore),
            notAfter: uint40(terms.notAfter),
            maxUses: terms.maxUses
        });
        emit GrantIssued(
            grantId,
            subjectIndex,
            terms.institution,
            terms.categories,
            terms.purpose,
            terms.level,
            terms.notBefore,
            terms.notAfter,
            terms.maxUses
        );
    }

    function _revoke(uint256 grantId, uint32 subjectIndex, address caller) private {
        if (grantId == 0 || grantId > _grantCount) revert UnknownGrant(grantId);
        StoredGrant storage stored = _grants[grantId];
        uint32 institutionIndex = stored.institutionIndex;
        if (institutionIndex == 0) revert GrantAlreadyRevoked(grantId);
        if (stored.subjectIndex != subjectIndex) revert NotGrantSubject(grantId, caller);
        delete _grants[grantId];
        emit GrantRevoked(grantId, subjectIndex, _institutionAt[institutionIndex]);
    }
}
