// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {InstitutionType} from "./LedgerTypes.sol";

/// @title Membership: platform roles, institutions and real-name-bound subjects.
/// @notice OPERATOR, PROVIDER and REGULATOR are AccessControl roles. Institutions carry a type,
/// a name and a suspension flag. A subject (enterprise) is a pseudonymous id (keyed hash of its
/// USCC) bound to the one address that proved control of it; the operator may re-bind it after
/// a key loss, and the old address then loses all power. Grants belong to the subject.
interface IMembership {
    /// @dev One slot: index (32) + kind (8) + suspended (8) + agreementId (64) + acceptanceNonce (64).
    /// The nonce of signed agreement acceptances lives here rather than in the account nonces:
    /// acceptance already rewrites this slot, so bumping it costs nothing extra.
    struct Institution {
        uint32 index;
        InstitutionType kind;
        bool suspended;
        uint64 agreementId;
        uint64 acceptanceNonce;
    }

    error NotOperator(address account);
    error NotRegulator(address account);
    error InstitutionAlreadyRegistered(address account);
    error UnknownInstitution(address account);
    error InstitutionNameEmpty();
    error SubjectAlreadyBound(bytes32 subjectId);
    error UnknownSubject(bytes32 subjectId);
    error AccountAlreadyBound(address account);
    error NotASubject(address account);
    error InvalidSignature(address signer);
    error SignatureExpired(uint64 deadline);
    error NonceNotIncreased(uint256 current, uint256 requested);
    /// @notice A raise skips more than MAX_NONCE_RAISE nonces or goes above NONCE_CEILING.
    error NonceRaiseTooLarge(uint256 current, uint256 requested);
    error ZeroAddress();
    error SelfGrantRefused(bytes32 role, address account);
    /// @notice The grant would give one account duties that must stay apart (see Membership).
    error RolesNotSeparate(bytes32 role, address account);

    event InstitutionRegistered(address indexed institution, uint32 index, InstitutionType kind, string name);
    event InstitutionSuspended(address indexed institution, address indexed regulator);
    event InstitutionReinstated(address indexed institution, address indexed regulator);
    event SubjectBound(bytes32 indexed subjectId, address indexed account, uint32 subjectIndex);
    event SubjectRebound(
        bytes32 indexed subjectId, address indexed previousAccount, address indexed account, uint32 subjectIndex
    );
    event NonceIncreased(address indexed account, uint256 previousNonce, uint256 newNonce);

    /// @notice Registers an institution that may sign agreements and receive grants. Operator only.
    function registerInstitution(address account, InstitutionType kind, string calldata name) external;

    /// @notice Suspends an institution: every grant to it becomes unusable at once. Regulator only.
    function suspendInstitution(address account) external;

    /// @notice Lifts a suspension. Regulator only.
    function reinstateInstitution(address account) external;

    /// @notice Binds `subjectId` to `account` after real-name registration. Operator only; `signature`
    /// is the account's EIP-712 `Registration` proving it controls the key.
    function bindSubject(bytes32 subjectId, address account, uint64 deadline, bytes calldata signature) external;

    /// @notice Moves a subject to a new address after key loss or rotation. Operator only; the new
    /// address signs a `Registration`. The previous address loses all power; grants are kept.
    function rebindSubject(bytes32 subjectId, address account, uint64 deadline, bytes calldata signature)
        external;

    /// @notice Invalidates every outstanding signature of the caller with a nonce below `newNonce`.
    function increaseNonce(uint256 newNonce) external;

    /// @notice As {increaseNonce}, authorised by an EIP-712 `IncreaseNonce` signature of `signer`.
    function increaseNonceBySig(address signer, uint256 newNonce, uint64 deadline, bytes calldata signature)
        external;

    function institution(address account) external view returns (Institution memory);
    function institutionName(address account) external view returns (string memory);
    function institutionAt(uint32 index) external view returns (address);
    function subjectOf(address account) external view returns (bytes32 subjectId, uint32 subjectIndex);
    function accountOf(bytes32 subjectId) external view returns (address account, uint32 subjectIndex);
    function subjectIdAt(uint32 subjectIndex) external view returns (bytes32);
    function nonces(address account) external view returns (uint256);
}
