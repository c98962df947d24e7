// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Disputes} from "./Disputes.sol";
import {Grants} from "./Grants.sol";
import {Membership} from "./Membership.sol";

/// @title Credit Consent Ledger
/// @notice Members and roles, subjects, data-sharing agreements, grants, anchors and disputes of
/// a provincial credit-information platform, in one contract so that the hot paths (issuing,
/// checking and revoking grants) read every rule from local storage.
contract ConsentLedger is Grants, Disputes {
    /// @notice Named in every deployment record; the indexer and API refuse versions they do not know.
    string public constant CONTRACT_VERSION = "2.1.0";

    constructor(address operator, address governance, uint48 governanceDelay)
        Membership(operator, governance, governanceDelay)
    {}
}
