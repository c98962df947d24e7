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

    /// @dev keccak256("AgreementAcceptance(uint256 agreementId,uint256 nonce,uint256 deadline)")
    bytes32 public constant AGREEMENT_ACCEPTANCE_TYPEHASH =
        0xc833d5b523b3603b27f33b26a2b586bcee2555a56d60390c15afd9fa76576253;

    /// @inheritdoc IAgreements
    function acceptAgreement(uint256 agreementId) external {
        Agreement storage proposed = _requireAgreement(agreementId);
        Institution storage caller = _institutions[msg.sender];
        if (caller.index == 0 || caller.index != proposed.institutionIndex) {
            revert NotAgreementInstitution(agreementId, msg.sender);
        }
        _accept(agreementId, proposed, caller, msg.sender);
    }

    /// @inheritdoc IAgreements
    function acceptAgreementBySig(uint256 agreementId, uint256 nonce, uint256 deadline, bytes calldata signature)
        external
    {
        Agreement storage proposed = _requireAgreement(agreementId);
        address signer = _institutionAccount(proposed);
        Institution storage caller = _institutions[signer];
        // The platform relays nothing for a suspended institution. (A direct acceptance stays
        // open to it, as before: it pays its own gas, and its reads stay refused anyway.)
        if (caller.suspended) revert AcceptingInstitutionSuspended(signer);
        // The nonce is checked before the signature so that a replay says so rather than
        // "invalid signature" (the signed nonce would not match the current one either way).
        if (nonce != caller.acceptanceNonce) revert AcceptanceNonceUsed(signer, caller.acceptanceNonce, nonce);
        // A deadline beyond uint64 never passes; it is signed in full and checked capped.
        uint64 checkedDeadline = deadline > type(uint64).max ? type(uint64).max : uint64(deadline);
        _requireSignature(
            signer,
            keccak256(abi.encode(AGREEMENT_ACCEPTANCE_TYPEHASH, agreementId, nonce, deadline)),
            checkedDeadline,
            signature
        );
        _accept(agreementId, proposed, caller, signer);
    }

    /// @dev Both ways of accepting: the same checks of the agreement, and either one voids the
    /// institution's outstanding signed acceptances (the nonce lives in the slot rewritten here).
    function _accept(uint256 agreementId, Agreement storage proposed, Institution storage caller, address account)
        private
    {
        if (proposed.status != AgreementStatus.Proposed) revert AgreementNotProposed(agreementId);
        uint256 superseded = caller.agreementId;
        if (superseded != 0) {
            // A regulator's suspension holds until a regulator lifts it: accepting another
            // pending proposal must not step around it.
            Agreement storage current = _agreements[superseded];
            if (current.status == AgreementStatus.Suspended) revert InstitutionAgreementSuspended(superseded);
            if (current.status == AgreementStatus.Active) {
                current.status = AgreementStatus.Superseded;
                emit AgreementSuperseded(superseded, account, agreementId);
            }
        }
        proposed.status = AgreementStatus.Active;
        caller.agreementId = uint64(agreementId);
        caller.acceptanceNonce += 1;
        emit AgreementAccepted(agreementId, account, superseded);
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
