// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAgreements} from "./interfaces/IAgreements.sol";
import {IMembership} from "./interfaces/IMembership.sol";
import {IReceivables} from "./interfaces/IReceivables.sol";
import {Purpose} from "./interfaces/LedgerTypes.sol";
import {Signatures} from "./Signatures.sol";

/// @title Supply-chain receivables beside the ConsentLedger.
/// @notice A contract of its own so the consent ledger stays within the code-size limit; it reads
/// enterprises (bound subjects) and institutions with their agreements from the ledger, so
/// the same registry and the same regulator decide who takes part.
contract Receivables is IReceivables, Signatures {
    /// @notice Named in every deployment record beside the ledger's version.
    string public constant CONTRACT_VERSION = "1.1.0";
    /// @notice A receivable falls due at most this long after it is registered or confirmed.
    uint64 public constant MAX_TERM = 365 days;

    bytes32 private constant CONFIRMATION_TYPEHASH =
        keccak256("ReceivableConfirmation(uint32 receivableId,address debtor,uint64 deadline)");
    bytes32 private constant REGISTRATION_TYPEHASH = keccak256(
        "ReceivableRegistration(address debtor,uint48 amount,bytes3 currency,uint64 dueDate,bytes32 invoiceHash,bytes32 contractHash,uint256 nonce,uint64 deadline)"
    );
    bytes32 private constant PAYABLE_TYPEHASH = keccak256(
        "PayableRegistration(address supplier,uint48 amount,bytes3 currency,uint64 dueDate,bytes32 invoiceHash,bytes32 contractHash,uint256 nonce,uint64 deadline)"
    );
    bytes32 private constant SPLIT_TYPEHASH =
        keccak256("PartSplit(uint64 partId,uint48 value,uint256 nonce,uint64 deadline)");
    bytes32 private constant TRANSFER_TYPEHASH =
        keccak256("PartTransfer(uint64 partId,address to,uint256 nonce,uint64 deadline)");
    bytes32 private constant FINANCING_TYPEHASH = keccak256(
        "PartFinancing(uint64 partId,address institution,bytes32 registryHash,uint256 nonce,uint64 deadline)"
    );
    bytes32 private constant RELEASE_TYPEHASH =
        keccak256("PartRelease(uint64 partId,uint256 nonce,uint64 deadline)");
    bytes32 private constant SETTLEMENT_TYPEHASH =
        keccak256("PartSettlement(uint64 partId,uint48 value,uint256 nonce,uint64 deadline)");

    /// @notice The consent ledger whose subjects, institutions and agreements this contract trusts.
    address public immutable ledger;
    /// @notice The catalog bit of the supply-chain category an agreement must cover to finance.
    uint8 public immutable supplyChainCategoryBit;

    uint32 private _receivableCount;
    uint64 private _partCount;
    mapping(uint32 receivableId => Receivable) private _receivables;
    mapping(uint64 partId => Part) private _parts;
    mapping(bytes32 key => uint32 receivableId) private _receivableOf;
    /// @dev One counter per signer for every signed act but confirmation (which happens once).
    mapping(address signer => uint256) private _nonces;

    constructor(address consentLedger, uint8 categoryBit) {
        ledger = consentLedger;
        supplyChainCategoryBit = categoryBit;
    }

    /// @inheritdoc IReceivables
    function registerReceivable(
        address debtor,
        uint48 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceHash,
        bytes32 contractHash
    ) external returns (uint32 receivableId) {
        receivableId = _register(msg.sender, debtor, amount, currency, dueDate, invoiceHash, contractHash);
    }

    /// @inheritdoc IReceivables
    function registerReceivableBySig(NewReceivable calldata terms, address supplier, uint64 deadline, bytes calldata signature)
        external
        returns (uint32 receivableId)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                REGISTRATION_TYPEHASH,
                terms.debtor,
                terms.amount,
                terms.currency,
                terms.dueDate,
                terms.invoiceHash,
                terms.contractHash,
                _useNonce(supplier),
                deadline
            )
        );
        _requireSignature(supplier, structHash, deadline, signature);
        receivableId = _register(
            supplier, terms.debtor, terms.amount, terms.currency, terms.dueDate, terms.invoiceHash, terms.contractHash
        );
    }

    /// @inheritdoc IReceivables
    function registerPayable(
        address supplier,
        uint48 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceHash,
        bytes32 contractHash
    ) external returns (uint32 receivableId, uint64 partId) {
        receivableId = _register(supplier, msg.sender, amount, currency, dueDate, invoiceHash, contractHash);
        partId = _confirm(receivableId, msg.sender);
    }

    /// @inheritdoc IReceivables
    function registerPayableBySig(NewPayable calldata terms, address debtor, uint64 deadline, bytes calldata signature)
        external
        returns (uint32 receivableId, uint64 partId)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                PAYABLE_TYPEHASH,
                terms.supplier,
                terms.amount,
                terms.currency,
                terms.dueDate,
                terms.invoiceHash,
                terms.contractHash,
                _useNonce(debtor),
                deadline
            )
        );
        _requireSignature(debtor, structHash, deadline, signature);
        receivableId = _register(
            terms.supplier, debtor, terms.amount, terms.currency, terms.dueDate, terms.invoiceHash, terms.contractHash
        );
        partId = _confirm(receivableId, debtor);
    }

    /// @inheritdoc IReceivables
    function confirmReceivable(uint32 receivableId) external returns (uint64 partId) {
        partId = _confirm(receivableId, msg.sender);
    }

    /// @inheritdoc IReceivables
    function confirmReceivableBySig(uint32 receivableId, uint64 deadline, bytes calldata signature)
        external
        returns (uint64 partId)
    {
        address debtor = _receivables[receivableId].debtor;
        if (debtor == address(0)) revert UnknownReceivable(receivableId);
        _requireSignature(
            debtor, keccak256(abi.encode(CONFIRMATION_TYPEHASH, receivableId, debtor, deadline)), deadline, signature
        );
        partId = _confirm(receivableId, debtor);
    }

    /// @inheritdoc IReceivables
    function splitPart(uint64 partId, uint48 value) external returns (uint64 newPartId) {
        newPartId = _split(msg.sender, partId, value);
    }

    /// @inheritdoc IReceivables
    function splitPartBySig(uint64 partId, uint48 value, address holder, uint64 deadline, bytes calldata signature)
        external
        returns (uint64 newPartId)
    {
        bytes32 structHash = keccak256(abi.encode(SPLIT_TYPEHASH, partId, value, _useNonce(holder), deadline));
        _requireSignature(holder, structHash, deadline, signature);
        newPartId = _split(holder, partId, value);
    }

    /// @inheritdoc IReceivables
    function transferPart(uint64 partId, address to) external {
        _transfer(msg.sender, partId, to);
    }

    /// @inheritdoc IReceivables
    function transferPartBySig(uint64 partId, address to, address holder, uint64 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash = keccak256(abi.encode(TRANSFER_TYPEHASH, partId, to, _useNonce(holder), deadline));
        _requireSignature(holder, structHash, deadline, signature);
        _transfer(holder, partId, to);
    }

    /// @inheritdoc IReceivables
    function financePart(uint64 partId, address institution, bytes32 registryHash) external {
        _finance(msg.sender, partId, institution, registryHash);
    }

    /// @inheritdoc IReceivables
    function financePartBySig(
        uint64 partId,
        address institution,
        bytes32 registryHash,
        address holder,
        uint64 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(FINANCING_TYPEHASH, partId, institution, registryHash, _useNonce(holder), deadline)
        );
        _requireSignature(holder, structHash, deadline, signature);
        _finance(holder, partId, institution, registryHash);
    }

    /// @inheritdoc IReceivables
    function releasePart(uint64 partId) external {
        _release(msg.sender, partId);
    }

    /// @inheritdoc IReceivables
    function releasePartBySig(uint64 partId, address institution, uint64 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash = keccak256(abi.encode(RELEASE_TYPEHASH, partId, _useNonce(institution), deadline));
        _requireSignature(institution, structHash, deadline, signature);
        _release(institution, partId);
    }

    /// @inheritdoc IReceivables
    function settlePart(uint64 partId, uint48 value) external {
        _settle(msg.sender, partId, value);
    }

    /// @inheritdoc IReceivables
    function settlePartBySig(uint64 partId, uint48 value, address debtor, uint64 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash = keccak256(abi.encode(SETTLEMENT_TYPEHASH, partId, value, _useNonce(debtor), deadline));
        _requireSignature(debtor, structHash, deadline, signature);
        _settle(debtor, partId, value);
    }

    function _split(address caller, uint64 partId, uint48 value) private returns (uint64 newPartId) {
        Part storage held = _requireMovable(partId, caller);
        uint48 total = held.value;
        if (value == 0 || value >= total) revert ValueExceedsPart(partId, value, total);
        held.value = total - value;
        newPartId = ++_partCount;
        _parts[newPartId] = Part({holder: caller, value: value, receivableId: held.receivableId, financier: 0});
        emit PartSplit(partId, newPartId, caller, value);
    }

    function _transfer(address caller, uint64 partId, address to) private {
        Part storage held = _requireMovable(partId, caller);
        if (to == caller) revert SameParty(to);
        _requireSubject(to);
        held.holder = to;
        emit PartTransferred(partId, caller, to, held.value);
    }

    function _finance(address caller, uint64 partId, address institution, bytes32 registryHash) private {
        Part storage held = _requireMovable(partId, caller);
        (uint16 index, FinanceRefusal refusal) = _financier(institution);
        if (refusal != FinanceRefusal.None) revert InstitutionCannotFinance(institution, refusal);
        held.financier = index;
        emit PartFinanced(partId, caller, institution, held.value, registryHash);
    }

    function _release(address caller, uint64 partId) private {
        Part storage held = _requirePart(partId);
        uint16 financier = held.financier;
        if (financier == 0) revert PartNotLocked(partId);
        if (_institutionAt(financier) != caller) revert NotFinancier(partId, caller);
        held.financier = 0;
        emit PartReleased(partId, caller);
    }

    function _settle(address caller, uint64 partId, uint48 value) private {
        Part storage held = _requirePart(partId);
        uint32 receivableId = held.receivableId;
        Receivable storage owed = _receivables[receivableId];
        if (owed.debtor != caller) revert NotDebtor(receivableId, caller);
        uint48 outstanding = held.value;
        if (value == 0 || value > outstanding) revert ValueExceedsPart(partId, value, outstanding);
        uint48 remaining = outstanding - value;
        held.value = remaining;
        uint48 settled = owed.settled + value;
        owed.settled = settled;
        emit PartSettled(partId, receivableId, value, remaining);
        if (remaining == 0 && held.financier != 0) {
            emit PartReleased(partId, _institutionAt(held.financier));
            held.financier = 0;
        }
        if (settled == owed.amount) {
            owed.status = ReceivableStatus.Settled;
            emit ReceivableSettled(receivableId);
        }
    }

    /// @inheritdoc IReceivables
    function declareDefault(uint64 partId) external {
        Part storage held = _requirePart(partId);
        Receivable storage owed = _receivables[held.receivableId];
        if (block.timestamp <= owed.dueDate || held.value == 0) revert PartNotOverdue(partId, owed.dueDate);
        bool isFinancier = held.financier != 0 && _institutionAt(held.financier) == msg.sender;
        if (held.holder != msg.sender && !isFinancier) revert NotHolder(partId, msg.sender);
        emit PartDefaulted(partId, held.receivableId, msg.sender, held.value);
    }

    function receivable(uint32 receivableId) external view returns (Receivable memory) {
        return _receivables[receivableId];
    }

    function part(uint64 partId) external view returns (Part memory) {
        return _parts[partId];
    }

    function receivableIdOf(bytes32 key) external view returns (uint32) {
        return _receivableOf[key];
    }

    /// @notice The unique key of a receivable: the same invoice of the same debtor for the same
    /// amount can be registered once.
    function receivableKey(address debtor, bytes32 invoiceHash, uint48 amount) public pure returns (bytes32) {
        return keccak256(abi.encode(debtor, invoiceHash, amount));
    }

    function nonces(address signer) external view returns (uint256) {
        return _nonces[signer];
    }

    function counts() external view returns (uint32 receivables, uint64 parts) {
        return (_receivableCount, _partCount);
    }

    /// @notice The EIP-712 domain separator the debtor's wallet signs under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _register(
        address supplier,
        address debtor,
        uint48 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceHash,
        bytes32 contractHash
    ) private returns (uint32 receivableId) {
        if (supplier == debtor) revert SameParty(debtor);
        _requireSubject(supplier);
        _requireSubject(debtor);
        if (amount == 0) revert AmountOutOfRange(amount);
        _requireDueDate(dueDate);
        bytes32 key = receivableKey(debtor, invoiceHash, amount);
        uint32 existing = _receivableOf[key];
        if (existing != 0) revert DuplicateReceivable(key, existing);
        receivableId = ++_receivableCount;
        _receivableOf[key] = receivableId;
        _receivables[receivableId] = Receivable({
            debtor: debtor,
            dueDate: dueDate,
            status: ReceivableStatus.Pending,
            currency: currency,
            supplier: supplier,
            amount: amount,
            settled: 0
        });
        emit ReceivableRegistered(
            receivableId, supplier, debtor, amount, currency, dueDate, invoiceHash, contractHash, key
        );
    }

    function _confirm(uint32 receivableId, address caller) private returns (uint64 partId) {
        Receivable storage owed = _receivables[receivableId];
        if (owed.status == ReceivableStatus.None) revert UnknownReceivable(receivableId);
        if (owed.debtor != caller) revert NotDebtor(receivableId, caller);
        if (owed.status != ReceivableStatus.Pending) revert ReceivableNotPending(receivableId);
        _requireDueDate(owed.dueDate);
        owed.status = ReceivableStatus.Confirmed;
        partId = ++_partCount;
        _parts[partId] = Part({holder: owed.supplier, value: owed.amount, receivableId: receivableId, financier: 0});
        emit ReceivableConfirmed(receivableId, caller, partId);
    }

    /// @dev A part its caller holds, not locked by financing, not yet due: the only kind that moves.
    function _requireMovable(uint64 partId, address caller) private view returns (Part storage held) {
        held = _requirePart(partId);
        if (held.holder != caller) revert NotHolder(partId, caller);
        if (held.financier != 0) revert PartLocked(partId, _institutionAt(held.financier));
        if (held.value == 0) revert ValueExceedsPart(partId, 0, 0);
        uint64 dueDate = _receivables[held.receivableId].dueDate;
        if (block.timestamp > dueDate) revert PartMatured(partId, dueDate);
    }

    function _requirePart(uint64 partId) private view returns (Part storage held) {
        held = _parts[partId];
        if (held.holder == address(0)) revert UnknownPart(partId);
    }

    function _requireDueDate(uint64 dueDate) private view {
        uint64 latest = uint64(block.timestamp) + MAX_TERM;
        if (dueDate <= block.timestamp || dueDate > latest) revert DueDateOutOfRange(dueDate, latest);
    }

    function _requireSubject(address account) private view {
        (bytes32 subjectId,) = IMembership(ledger).subjectOf(account);
        if (subjectId == bytes32(0)) revert NotASubject(account);
    }

    /// @dev The institution's registry index when its active agreement, in term, covers the
    /// supply-chain category and purpose; otherwise why not.
    function _financier(address institution) private view returns (uint16, FinanceRefusal) {
        IMembership.Institution memory member = IMembership(ledger).institution(institution);
        if (member.index == 0) return (0, FinanceRefusal.UnknownInstitution);
        if (member.suspended) return (0, FinanceRefusal.InstitutionSuspended);
        if (member.index > type(uint16).max) return (0, FinanceRefusal.RegistryIndexTooLarge);
        if (member.agreementId == 0) return (0, FinanceRefusal.NoActiveAgreement);
        IAgreements.Agreement memory terms = IAgreements(ledger).agreement(member.agreementId);
        if (terms.status != IAgreements.AgreementStatus.Active) return (0, FinanceRefusal.NoActiveAgreement);
        if (block.timestamp < terms.notBefore || block.timestamp >= terms.notAfter) {
            return (0, FinanceRefusal.AgreementOutOfTerm);
        }
        if (terms.categories & (uint32(1) << supplyChainCategoryBit) == 0) {
            return (0, FinanceRefusal.CategoryNotInAgreement);
        }
        if (terms.purposes & (uint16(1) << uint8(Purpose.SupplyChainFinance)) == 0) {
            return (0, FinanceRefusal.PurposeNotInAgreement);
        }
        return (uint16(member.index), FinanceRefusal.None);
    }

    function _useNonce(address signer) private returns (uint256) {
        unchecked {
            return _nonces[signer]++;
        }
    }

    function _institutionAt(uint16 index) private view returns (address) {
        return IMembership(ledger).institutionAt(index);
    }
}
