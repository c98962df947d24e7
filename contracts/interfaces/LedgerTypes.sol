// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice Kind of institution (接入机构) allowed to read credit information.
enum InstitutionType {
    Bank,
    Insurer,
    Guarantor,
    CreditService
}

/// @notice Why an institution reads a subject's data. Agreements permit a bitmask of these
/// (bit `uint8(purpose)`), a grant names exactly one.
enum Purpose {
    LoanApplication,
    PostLoanMonitoring,
    Guarantee,
    InsuranceUnderwriting,
    CreditRating,
    SupplyChainFinance
}

/// @notice How much of the data a grant exposes. Ordered: VERIFY < QUERY < DETAIL.
enum AccessLevel {
    Verify,
    Query,
    Detail
}

/// @notice Result of the canonical grant check, in the order the rules apply.
/// The Python replica (`ledger_api/chain/grant_rules.py`) mirrors this enum and the order exactly.
enum GrantCheck {
    Usable,
    UnknownGrant,
    Revoked,
    UnknownInstitution,
    WrongInstitution,
    InstitutionSuspended,
    NotYetValid,
    Expired,
    CategoryNotGranted,
    PurposeMismatch,
    LevelTooLow,
    NoAgreement,
    AgreementNotActive,
    CategoryNotInAgreement,
    PurposeNotInAgreement,
    UsageCapReached
}
