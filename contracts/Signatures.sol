// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice EIP-712 signature checks shared by every signed request of the ledger.
abstract contract Signatures is EIP712 {
    error SignatureInvalid(address signer);
    error SignatureDeadlinePassed(uint64 deadline);

    constructor() EIP712("CreditConsentLedger", "1") {}

    /// @dev Tries ECDSA first and falls back to ERC-1271: the order SignatureChecker used before
    /// 5.x. Checking the signer's code size first would cost a cold EXTCODESIZE (2,600 gas) on
    /// every item of a batch even though almost all enterprise wallets are EOAs. ECDSA.tryRecover
    /// rejects high-s (malleable) signatures.
    function _requireSignature(address signer, bytes32 structHash, uint64 deadline, bytes calldata signature)
        internal
        view
    {
        if (block.timestamp > deadline) revert SignatureDeadlinePassed(deadline);
        bytes32 digest = _hashTypedDataV4(structHash);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return;
        if (signer.code.length != 0 && SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature)) {
            return;
        }
        revert SignatureInvalid(signer);
    }

    /// @dev EOA-only check of an EIP-2098 compact signature; high-s is rejected by tryRecover.
    /// Answers rather than reverts: a batch skips the items that fail it.
    function _compactSignatureValid(address signer, bytes32 structHash, bytes32 r, bytes32 vs)
        internal
        view
        returns (bool)
    {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hashTypedDataV4(structHash), r, vs);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }
}
