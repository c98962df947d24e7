// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Agreements: data-sharing agreements (数据共享协议) between the platform and an institution.
/// @notice The operator proposes (or withdraws a proposal), the institution accepts on chain (only
/// then is it active, and it supersedes the institution's previous agreement), a regulator
/// suspends, reinstates or terminates.
interface IAgreements {
    enum AgreementStatus {
        None,
        Proposed,
        Active,
        Suspended,
        Terminated,
        Superseded, // replaced by a later agreement the institution accepted
        Withdrawn // a proposal the operator took back before it was accepted
    }

    /// @dev Fits in two slots: the packed terms, then the document hash.
    struct Agreement {
        uint32 institutionIndex;
        uint32 categories;
        uint16 purposes;
        uint64 notBefore;
        uint64 notAfter;
        AgreementStatus status;
        bytes32 documentHash;
    }

    error UnknownAgreement(uint256 agreementId);
    error AgreementNotProposed(uint256 agreementId);
    error AgreementNotActive(uint256 agreementId);
    error AgreementNotSuspended(uint256 agreementId);
    error AgreementAlreadyTerminated(uint256 agreementId);
    error NotAgreementInstitution(uint256 agreementId, address caller);
    error InvalidTerms();
    error InstitutionAgreementSuspended(uint256 suspendedAgreementId);
    /// @notice A signed acceptance carries a nonce the institution already used (a replay, or a
    /// signature made stale by a later acceptance).
    error AcceptanceNonceUsed(address institution, uint256 current, uint256 signed);
    error AcceptingInstitutionSuspended(address institution);

    event AgreementProposed(
        uint256 indexed agreementId,
        address indexed institution,
        uint32 categories,
        uint16 purposes,
        uint64 notBefore,
        uint64 notAfter,
        bytes32 documentHash
    );
    event AgreementAccepted(uint256 indexed agreementId, address indexed institution, uint256 supersededAgreementId);
    event AgreementSuperseded(uint256 indexed agreementId, address indexed institution, uint256 byAgreementId);
    event AgreementWithdrawn(uint256 indexed agreementId, address indexed institution);
    event AgreementSuspended(uint256 indexed agreementId, address indexed institution, address indexed regulator);
    event AgreementReinstated(uint256 indexed agreementId, address indexed institution, address indexed regulator);
    event AgreementTerminated(uint256 indexed agreementId, address indexed institution, address indexed regulator);

    /// @notice Proposes an agreement covering `categories` (catalog bitmask) for `purposes`
    /// (bitmask over Purpose) during [notBefore, notAfter). Operator only.
    function proposeAgreement(
        address institution,
        uint32 categories,
        uint16 purposes,
        uint64 notBefore,
        uint64 notAfter,
        bytes32 documentHash
    ) external returns (uint256 agreementId);

    /// @notice The institution named in the agreement accepts it; it becomes its active agreement
    /// and its previous active agreement becomes Superseded. Refused while the institution's
    /// current agreement is suspended.
    function acceptAgreement(uint256 agreementId) external;

    /// @notice The same acceptance, signed by the institution (EIP-712
    /// `AgreementAcceptance(uint256 agreementId,uint256 nonce,uint256 deadline)`) and sent by
    /// anyone, so that the institution needs no gas. `nonce` is the institution's
    /// `acceptanceNonce`; a wrong signer reverts SignatureInvalid, a passed deadline
    /// SignatureDeadlinePassed, a used nonce AcceptanceNonceUsed, a suspended institution
    /// AcceptingInstitutionSuspended.
    function acceptAgreementBySig(uint256 agreementId, uint256 nonce, uint256 deadline, bytes calldata signature)
        external;

    /// @notice Takes back a proposal not yet accepted. Operator only.
    function withdrawProposal(uint256 agreementId) external;

    /// @notice Stops every query by the institution at once. Regulator only.
    function suspendAgreement(uint256 agreementId) external;

    function reinstateAgreement(uint256 agreementId) external;

    /// @notice Ends the agreement for good. Regulator only.
    function terminateAgreement(uint256 agreementId) external;

    function agreement(uint256 agreementId) external view returns (Agreement memory);
}
