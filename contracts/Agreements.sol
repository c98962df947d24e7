// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAgreements} from "./interfaces/IAgreements.sol";
import {Membership} from "./Membership.sol";

abstract contract Agreements is IAgreements, Membership {
    mapping(uint256 agreementId => Agreement) internal _agreements;

    /// @inheritdoc IAgreements
    function proposeAgreement(
        address institution,
        uint32 categories,
        uint16 purposes,
        uint64 notBefore,
        uint64 notAfter,
        bytes32 documentHash
    ) external onlyRole(OPERATOR_ROLE) returns (uint256 agreementId) {
        uint32 institutionIndex = _requireInstitution(institution).index;
        if (categories == 0 || purposes == 0 || notBefore >= notAfter || documentHash == bytes32(0)) {
            revert InvalidTerms();
        }
        agreementId = ++_counters.agreements;
        _agreements[agreementId] = Agreement({
            institutionIndex: institutionIndex,
            categories: categories,
            purposes: purposes,
            notBefore: notBefore,
            notAfter: notAfter,
            status: AgreementStatus.Proposed,
            documentHash: documentHash
        });
        emit AgreementProposed(agreementId, institution, categories, purposes, notBefore, notAfter, documentHash);
    }

    /// @inheritdoc IAgreements
    function acceptAgreement(uint256 agreementId) external {
        Agreement storage proposed = _requireAgreement(agreementId);
        if (proposed.status != AgreementStatus.Proposed) revert AgreementNotProposed(agreementId);
        Institution storage caller = _institutions[msg.sender];
        if (caller.index == 0 || caller.index != proposed.institutionIndex) {
            revert NotAgreementInstitution(agreementId, msg.sender);
        }
        uint256 superseded = caller.agreementId;
        if (superseded != 0) {
            // A regulator's suspension holds until a regulator lifts it: accepting another
            // pending proposal must not step around it.
            Agreement storage current = _agreements[superseded];
            if (current.status == AgreementStatus.Suspended) revert InstitutionAgreementSuspended(superseded);
            if (current.status == AgreementStatus.Active) {
                current.status = AgreementStatus.Superseded;
                emit AgreementSuperseded(superseded, msg.sender, agreementId);
            }
        }
        proposed.status = AgreementStatus.Active;
        caller.agreementId = uint64(agreementId);
        emit AgreementAccepted(agreementId, msg.sender, superseded);
    }

    /// @inheritdoc IAgreements
    function withdrawProposal(uint256 agreementId) external onlyRole(OPERATOR_ROLE) {
        Agreement storage proposed = _requireAgreement(agreementId);
        if (proposed.status != AgreementStatus.Proposed) revert AgreementNotProposed(agreementId);
        proposed.status = AgreementStatus.Withdrawn;
        emit AgreementWithdrawn(agreementId, _institutionAccount(proposed));
    }

    /// @inheritdoc IAgreements
    function suspendAgreement(uint256 agreementId) external onlyRole(REGULATOR_ROLE) {
        Agreement storage stored = _requireAgreement(agreementId);
        if (stored.status != AgreementStatus.Active) revert AgreementNotActive(agreementId);
        stored.status = AgreementStatus.Suspended;
        emit AgreementSuspended(agreementId, _institutionAccount(stored), msg.sender);
    }

    /// @inheritdoc IAgreements
    function reinstateAgreement(uint256 agreementId) external onlyRole(REGULATOR_ROLE) {
        Agreement storage stored = _requireAgreement(agreementId);
        if (stored.status != AgreementStatus.Suspended) revert AgreementNotSuspended(agreementId);
        stored.status = AgreementStatus.Active;
        emit AgreementReinstated(agreementId, _institutionAccount(stored), msg.sender);
    }

    /// @inheritdoc IAgreements
    function terminateAgreement(uint256 agreementId) external onlyRole(REGULATOR_ROLE) {
        Agreement storage stored = _requireAgreement(agreementId);
        if (stored.status == AgreementStatus.Terminated) revert AgreementAlreadyTerminated(agreementId);
        stored.status = AgreementStatus.Terminated;
        emit AgreementTerminated(agreementId, _institutionAccount(stored), msg.sender);
    }

    function agreement(uint256 agreementId) external view returns (Agreement memory) {
        return _agreements[agreementId];
    }

    function _requireAgreement(uint256 agreementId) private view returns (Agreement storage stored) {
        stored = _agreements[agreementId];
        if (stored.status == AgreementStatus.None) revert UnknownAgreement(agreementId);
    }

    function _institutionAccount(Agreement storage stored) private view returns (address) {
        return _institutionAt[stored.institutionIndex];
    }
}
