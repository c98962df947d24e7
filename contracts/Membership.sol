// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

import {IMembership} from "./interfaces/IMembership.sol";
import {InstitutionType} from "./interfaces/LedgerTypes.sol";
import {Signatures} from "./Signatures.sol";

abstract contract Membership is IMembership, AccessControlDefaultAdminRules, Signatures {
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant PROVIDER_ROLE = keccak256("PROVIDER_ROLE");
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    /// @dev keccak256("Registration(bytes32 subjectId,address account,uint256 nonce,uint64 deadline)")
    bytes32 public constant REGISTRATION_TYPEHASH = 0x5ae33bc58405371f898f53d63fe3f448ff43dfffcfe01781058e92ae445c1333;
    /// @dev keccak256("IncreaseNonce(uint256 newNonce,uint256 nonce,uint64 deadline)")
    bytes32 public constant INCREASE_NONCE_TYPEHASH = 0x9a4e99f94d08bbf74ea748857fdce8d6f700d1b629ba01bb2242d71e6a42fb58;

    /// @dev A raise may skip at most this many nonces, and no nonce goes above NONCE_CEILING:
    /// the 64-bit nonce then stays 2^63 uses away from overflowing, whatever an account signs.
    uint256 public constant MAX_NONCE_RAISE = 1 << 32;
    uint256 public constant NONCE_CEILING = 1 << 63;

    /// @dev A signing address: the subject it is bound to (0: none) and its signature nonce,
    /// packed in one slot so that a relayed request reads and bumps both with one cold access.
    /// OpenZeppelin's Nonces would keep the nonce in a second mapping (an extra 2,100+ gas).
    struct Account {
        uint32 subjectIndex;
        uint64 nonce;
    }

    struct Subject {
        bytes32 id;
        address account;
    }

    /// @dev Every id counter in one slot, made non-zero at deployment: bumping one then costs a
    /// 2,900-gas rewrite instead of a 20,000-gas first write, and one cold access per transaction.
    struct Counters {
        uint64 grants;
        uint48 anchors;
        uint32 disputes;
        uint32 agreements;
        uint32 subjects;
        uint32 institutions;
        bool initialized;
    }

    Counters internal _counters;

    mapping(address account => Account) internal _accounts;
    mapping(uint32 subjectIndex => Subject) internal _subjects;
    mapping(bytes32 subjectId => uint32) private _subjectIndexOf;

    mapping(address account => Institution) internal _institutions;
    mapping(uint32 index => address) internal _institutionAt;
    mapping(address account => string) private _institutionNames;

    /// @param governance holds DEFAULT_ADMIN_ROLE, the admin of OPERATOR_ROLE and REGULATOR_ROLE;
    /// handing it on takes `governanceDelay` seconds (AccessControlDefaultAdminRules). The
    /// operator also holds PROVIDER_ROLE (the platform anchors ingested batches for providers)
    /// and administers PROVIDER_ROLE, onboarding providers.
    constructor(address operator, address governance, uint48 governanceDelay)
        AccessControlDefaultAdminRules(governanceDelay, governance)
    {
        if (operator == address(0)) revert ZeroAddress();
        _grantRole(OPERATOR_ROLE, operator);
        _grantRole(PROVIDER_ROLE, operator);
        _setRoleAdmin(PROVIDER_ROLE, OPERATOR_ROLE);
        _counters.initialized = true;
    }

    /// @dev Nobody grants itself a role it lacks (re-granting a held role stays a no-op).
    function grantRole(bytes32 role, address account) public override {
        if (account == msg.sender && !hasRole(role, account)) revert SelfGrantRefused(role, account);
        super.grantRole(role, account);
    }

    /// @dev Separation of duties, whoever grants: governance holds no other role, and no account
    /// is both a regulator and an operator or provider. Also covers the governance handover.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        bool conflict = role == DEFAULT_ADMIN_ROLE
            ? hasRole(OPERATOR_ROLE, account) || hasRole(PROVIDER_ROLE, account) || hasRole(REGULATOR_ROLE, account)
            : account == defaultAdmin()
                || (
                    role == REGULATOR_ROLE
                        ? hasRole(OPERATOR_ROLE, account) || hasRole(PROVIDER_ROLE, account)
                        : hasRole(REGULATOR_ROLE, account)
                );
        if (conflict) revert RolesNotSeparate(role, account);
        return super._grantRole(role, account);
    }

    /// @inheritdoc IMembership
    function registerInstitution(address account, InstitutionType kind, string calldata name)
        external
        onlyRole(OPERATOR_ROLE)
    {
        if (account == address(0)) revert ZeroAddress();
        if (_institutions[account].index != 0) revert InstitutionAlreadyRegistered(account);
        if (bytes(name).length == 0) revert InstitutionNameEmpty();
        uint32 index = ++_counters.institutions;
        _institutions[account] = Institution({index: index, kind: kind, suspended: false, agreementId: 0, acceptanceNonce: 0});
        _institutionAt[index] = account;
        _institutionNames[account] = name;
        emit InstitutionRegistered(account, index, kind, name);
    }

    /// @inheritdoc IMembership
    function suspendInstitution(address account) external onlyRole(REGULATOR_ROLE) {
        _requireInstitution(account).suspended = true;
        emit InstitutionSuspended(account, msg.sender);
    }

    /// @inheritdoc IMembership
    function reinstateInstitution(address account) external onlyRole(REGULATOR_ROLE) {
        _requireInstitution(account).suspended = false;
        emit InstitutionReinstated(account, msg.sender);
    }

    /// @inheritdoc IMembership
    function bindSubject(bytes32 subjectId, address account, uint64 deadline, bytes calldata signature)
        external
        onlyRole(OPERATOR_ROLE)
    {
        if (_subjectIndexOf[subjectId] != 0) revert SubjectAlreadyBound(subjectId);
        _requireRegistrationSignature(subjectId, account, deadline, signature);
        uint32 subjectIndex = ++_counters.subjects;
        _subjectIndexOf[subjectId] = subjectIndex;
        _subjects[subjectIndex] = Subject({id: subjectId, account: account});
        _accounts[account].subjectIndex = subjectIndex;
        emit SubjectBound(subjectId, account, subjectIndex);
    }

    /// @inheritdoc IMembership
    function rebindSubject(bytes32 subjectId, address account, uint64 deadline, bytes calldata signature)
        external
        onlyRole(OPERATOR_ROLE)
    {
        uint32 subjectIndex = _subjectIndexOf[subjectId];
        if (subjectIndex == 0) revert UnknownSubject(subjectId);
        _requireRegistrationSignature(subjectId, account, deadline, signature);
        address previous = _subjects[subjectIndex].account;
        _accounts[previous].subjectIndex = 0;
        _subjects[subjectIndex].account = account;
        _accounts[account].subjectIndex = subjectIndex;
        emit SubjectRebound(subjectId, previous, account, subjectIndex);
    }

    /// @inheritdoc IMembership
    function increaseNonce(uint256 newNonce) external {
        _increaseNonce(msg.sender, newNonce);
    }

    /// @inheritdoc IMembership
    function increaseNonceBySig(address signer, uint256 newNonce, uint64 deadline, bytes calldata signature)
        external
    {
        // Signed over the current nonce, which the increase itself then voids (no separate use).
        uint256 nonce = _accounts[signer].nonce;
        _requireSignature(
            signer, keccak256(abi.encode(INCREASE_NONCE_TYPEHASH, newNonce, nonce, deadline)), deadline, signature
        );
        _increaseNonce(signer, newNonce);
    }

    function institution(address account) external view returns (Institution memory) {
        return _institutions[account];
    }

    function institutionName(address account) external view returns (string memory) {
        return _institutionNames[account];
    }

    function institutionAt(uint32 index) external view returns (address) {
        return _institutionAt[index];
    }

    function subjectOf(address account) external view returns (bytes32 subjectId, uint32 subjectIndex) {
        subjectIndex = _accounts[account].subjectIndex;
        subjectId = _subjects[subjectIndex].id;
    }

    function accountOf(bytes32 subjectId) external view returns (address account, uint32 subjectIndex) {
        subjectIndex = _subjectIndexOf[subjectId];
        account = _subjects[subjectIndex].account;
    }

    function subjectIdAt(uint32 subjectIndex) external view returns (bytes32) {
        return _subjects[subjectIndex].id;
    }

    function nonces(address account) external view returns (uint256) {
        return _accounts[account].nonce;
    }

    /// @dev The subject the caller is bound to; reverts for an unbound (or re-bound away) address.
    function _callerSubject() internal view returns (uint32 subjectIndex) {
        subjectIndex = _accounts[msg.sender].subjectIndex;
        if (subjectIndex == 0) revert NotASubject(msg.sender);
    }

    /// @dev Consumes `signer`'s current nonce and returns the subject it is bound to. The nonce
    /// cannot overflow: raises stop at NONCE_CEILING, far below 2^64.
    function _useSubjectNonce(address signer) internal returns (uint32 subjectIndex, uint256 nonce) {
        Account storage account = _accounts[signer];
        subjectIndex = account.subjectIndex;
        if (subjectIndex == 0) revert NotASubject(signer);
        nonce = account.nonce++;
    }

    function _useNonce(address signer) internal returns (uint256) {
        return _accounts[signer].nonce++;
    }

    function _requireInstitution(address account) internal view returns (Institution storage stored) {
        stored = _institutions[account];
        if (stored.index == 0) revert UnknownInstitution(account);
    }

    function _requireRegistrationSignature(bytes32 subjectId, address account, uint64 deadline, bytes calldata signature)
        private
    {
        if (_accounts[account].subjectIndex != 0) revert AccountAlreadyBound(account);
        uint256 nonce = _useNonce(account);
        _requireSignature(
            account,
            keccak256(abi.encode(REGISTRATION_TYPEHASH, subjectId, account, nonce, deadline)),
            deadline,
            signature
        );
    }

    function _increaseNonce(address account, uint256 newNonce) private {
        uint256 previous = _accounts[account].nonce;
        if (newNonce <= previous) revert NonceNotIncreased(previous, newNonce);
        if (newNonce - previous > MAX_NONCE_RAISE || newNonce > NONCE_CEILING) {
            revert NonceRaiseTooLarge(previous, newNonce);
        }
        _accounts[account].nonce = uint64(newNonce);
        emit NonceIncreased(account, previous, newNonce);
    }
}
