// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Receivables: payables a core enterprise confirmed to its suppliers (应收账款确权), split
/// and passed down the supply chain (拆分流转), financed without double financing.
/// @notice A supplier registers a receivable against its debtor; it becomes a claim only when the
/// debtor confirms it (directly or by an EIP-712 signature anyone relays), or when the debtor
/// registers the payable itself. A confirmed receivable is held as parts: the first part holds the
/// whole amount; a holder splits a part and transfers parts to its own suppliers. The outstanding
/// values of a receivable's parts plus what the debtor has settled always equal its amount.
/// Financing locks a part: while locked it cannot be split, transferred or financed again.
/// Amounts are in the currency's minor unit (fen for CNY); invoice and contract numbers appear
/// only as hashes.
interface IReceivables {
    enum ReceivableStatus {
        None,
        Pending, // registered by the supplier, not yet confirmed by the debtor
        Confirmed, // the debtor owes it; parts exist
        Settled // the debtor paid every part
    }

    /// @dev Two slots: debtor (160) + dueDate (64) + status (8) + currency (24);
    /// supplier (160) + amount (48) + settled (48).
    struct Receivable {
        address debtor;
        uint64 dueDate;
        ReceivableStatus status;
        bytes3 currency;
        address supplier;
        uint48 amount;
        uint48 settled;
    }

    /// @dev One slot, so a split writes one new slot: holder (160) + outstanding value (48) +
    /// receivable id (32) + the financing institution's registry index (16; 0 = not financed).
    struct Part {
        address holder;
        uint48 value;
        uint32 receivableId;
        uint16 financier;
    }

    /// @notice What a supplier signs to register a receivable through the platform.
    struct NewReceivable {
        address debtor;
        uint48 amount;
        bytes3 currency;
        uint64 dueDate;
        bytes32 invoiceHash;
        bytes32 contractHash;
    }

    /// @notice What a debtor signs to register its own payable through the platform.
    struct NewPayable {
        address supplier;
        uint48 amount;
        bytes3 currency;
        uint64 dueDate;
        bytes32 invoiceHash;
        bytes32 contractHash;
    }

    error NotASubject(address account);
    error SameParty(address account);
    error AmountOutOfRange(uint256 amount);
    error DueDateOutOfRange(uint64 dueDate, uint64 latest);
    error DuplicateReceivable(bytes32 key, uint32 existingId);
    error UnknownReceivable(uint32 receivableId);
    error ReceivableNotPending(uint32 receivableId);
    error NotDebtor(uint32 receivableId, address caller);
    error UnknownPart(uint64 partId);
    error NotHolder(uint64 partId, address caller);
    error PartLocked(uint64 partId, address financier);
    error PartNotLocked(uint64 partId);
    error NotFinancier(uint64 partId, address caller);
    error ValueExceedsPart(uint64 partId, uint256 value, uint256 held);
    error PartMatured(uint64 partId, uint64 dueDate);
    error PartNotOverdue(uint64 partId, uint64 dueDate);
    error InstitutionCannotFinance(address institution, FinanceRefusal reason);

    /// @notice Why an institution may not finance supply-chain receivables.
    enum FinanceRefusal {
        None,
        UnknownInstitution,
        InstitutionSuspended,
        NoActiveAgreement,
        AgreementOutOfTerm,
        CategoryNotInAgreement,
        PurposeNotInAgreement,
        RegistryIndexTooLarge
    }

    event ReceivableRegistered(
        uint32 indexed receivableId,
        address indexed supplier,
        address indexed debtor,
        uint48 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceHash,
        bytes32 contractHash,
        bytes32 key
    );
    event ReceivableConfirmed(uint32 indexed receivableId, address indexed debtor, uint64 partId);
    event PartSplit(uint64 indexed partId, uint64 indexed newPartId, address indexed holder, uint48 value);
    event PartTransferred(uint64 indexed partId, address indexed from, address indexed to, uint48 value);
    event PartFinanced(
        uint64 indexed partId, address indexed holder, address indexed institution, uint48 value, bytes32 registryHash
    );
    event PartReleased(uint64 indexed partId, address indexed institution);
    event PartSettled(uint64 indexed partId, uint32 indexed receivableId, uint48 value, uint48 remaining);
    event ReceivableSettled(uint32 indexed receivableId);
    event PartDefaulted(uint64 indexed partId, uint32 indexed receivableId, address indexed reporter, uint48 value);

    /// @notice The supplier (caller) registers what `debtor` owes it; pending until confirmed.
    function registerReceivable(
        address debtor,
        uint48 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceHash,
        bytes32 contractHash
    ) external returns (uint32 receivableId);

    /// @notice Anyone relays a supplier's EIP-712 ReceivableRegistration (the supplier's nonce).
    function registerReceivableBySig(NewReceivable calldata terms, address supplier, uint64 deadline, bytes calldata signature)
        external
        returns (uint32 receivableId);

    /// @notice The debtor (caller) registers its payable to `supplier`: confirmed at once.
    function registerPayable(
        address supplier,
        uint48 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceHash,
        bytes32 contractHash
    ) external returns (uint32 receivableId, uint64 partId);

    /// @notice Anyone relays a debtor's EIP-712 PayableRegistration (the debtor's nonce): the
    /// same rules as registerPayable, confirmed at once.
    function registerPayableBySig(NewPayable calldata terms, address debtor, uint64 deadline, bytes calldata signature)
        external
        returns (uint32 receivableId, uint64 partId);

    /// @notice The debtor (caller) confirms a pending receivable.
    function confirmReceivable(uint32 receivableId) external returns (uint64 partId);

    /// @notice Anyone relays the debtor's EIP-712 ReceivableConfirmation. No nonce: a receivable
    /// is confirmed once, so a replayed signature finds it no longer pending.
    function confirmReceivableBySig(uint32 receivableId, uint64 deadline, bytes calldata signature)
        external
        returns (uint64 partId);

    /// @notice The holder splits `value` off a part into a new part it holds.
    function splitPart(uint64 partId, uint48 value) external returns (uint64 newPartId);

    /// @notice Anyone relays the holder's EIP-712 PartSplit.
    function splitPartBySig(uint64 partId, uint48 value, address holder, uint64 deadline, bytes calldata signature)
        external
        returns (uint64 newPartId);

    /// @notice The holder transfers a whole part to another enterprise.
    function transferPart(uint64 partId, address to) external;

    /// @notice Anyone relays the holder's EIP-712 PartTransfer.
    function transferPartBySig(uint64 partId, address to, address holder, uint64 deadline, bytes calldata signature)
        external;

    /// @notice The holder finances (pledges or factors) a part with `institution`, locking it.
    /// `registryHash` is the hash of the national movable-property financing registration number.
    function financePart(uint64 partId, address institution, bytes32 registryHash) external;

    /// @notice Anyone relays the holder's EIP-712 PartFinancing.
    function financePartBySig(
        uint64 partId,
        address institution,
        bytes32 registryHash,
        address holder,
        uint64 deadline,
        bytes calldata signature
    ) external;

    /// @notice The financing institution releases the lock (repaid or settled outside the chain).
    function releasePart(uint64 partId) external;

    /// @notice Anyone relays the financing institution's EIP-712 PartRelease.
    function releasePartBySig(uint64 partId, address institution, uint64 deadline, bytes calldata signature)
        external;

    /// @notice The debtor records a payment of `value` on a part; a financed part fully paid is released.
    function settlePart(uint64 partId, uint48 value) external;

    /// @notice Anyone relays the debtor's EIP-712 PartSettlement.
    function settlePartBySig(uint64 partId, uint48 value, address debtor, uint64 deadline, bytes calldata signature)
        external;

    /// @notice After the due date the holder or financier of an unpaid part declares it in default.
    function declareDefault(uint64 partId) external;

    function receivable(uint32 receivableId) external view returns (Receivable memory);
    function part(uint64 partId) external view returns (Part memory);
    function receivableIdOf(bytes32 key) external view returns (uint32);
    function receivableKey(address debtor, bytes32 invoiceHash, uint48 amount) external pure returns (bytes32);
    function nonces(address signer) external view returns (uint256);
    function counts() external view returns (uint32 receivables, uint64 parts);
}
