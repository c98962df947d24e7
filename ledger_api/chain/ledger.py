"""Typed access to the deployed ConsentLedger: the one place Python talks to the contract."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import BlockIdentifier, TxReceipt

from ledger_api.chain import eip712
from ledger_api.chain.artifacts import ledger_abi
from ledger_api.chain.deployment import Deployment
from ledger_api.chain.grant_rules import AgreementState, GrantState, InstitutionState
from ledger_api.chain.revert import as_chain_error
from ledger_api.chain.signatures import compact_signature
from ledger_api.chain.transactor import (
    GAS_ANCHOR_GROUP_BASE,
    GAS_BATCH_BASE,
    GAS_PER_BATCHED_GRANT,
    GAS_PER_GROUPED_ANCHOR,
    SentTransaction,
    Transactor,
)
from ledger_api.chain.types import (
    AccessLevel,
    AgreementStatus,
    AnchorKind,
    DisputeKind,
    DisputeOutcome,
    GrantCheck,
    GrantSkip,
    InstitutionType,
    Purpose,
)

ROLE_NAMES = ("OPERATOR_ROLE", "PROVIDER_ROLE", "REGULATOR_ROLE")
DEFAULT_SIGNATURE_TTL_S = 3600


def role_id(name: str) -> bytes:
    return Web3.keccak(text=name)


@dataclass(frozen=True)
class GrantTerms:
    institution: str
    categories: int
    purpose: Purpose
    level: AccessLevel
    not_before: int
    not_after: int
    max_uses: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            Web3.to_checksum_address(self.institution),
            self.categories,
            int(self.purpose),
            int(self.level),
            self.not_before,
            self.not_after,
            self.max_uses,
        )

    def as_message(self, nonce: int, deadline: int) -> dict[str, Any]:
        return {
            "institution": Web3.to_checksum_address(self.institution),
            "categories": self.categories,
            "purpose": int(self.purpose),
            "level": int(self.level),
            "notBefore": self.not_before,
            "notAfter": self.not_after,
            "maxUses": self.max_uses,
            "nonce": nonce,
            "deadline": deadline,
        }


@dataclass(frozen=True)
class SignedGrant:
    terms: GrantTerms
    signer: str
    deadline: int
    signature: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.terms.as_tuple(),
            Web3.to_checksum_address(self.signer),
            self.deadline,
            self.signature,
        )

    def as_compact_tuple(self) -> tuple[Any, ...]:
        """The batch form: EIP-2098 (r, vs), for EOA signers (65-byte signatures)."""
        r, vs = compact_signature(self.signature)
        return (
            self.terms.as_tuple(),
            Web3.to_checksum_address(self.signer),
            self.deadline,
            r,
            vs,
        )


@dataclass(frozen=True)
class SkippedGrant:
    """A batch item the contract skipped (``GrantSkipped``): its position and why."""

    index: int
    signer: str
    reason: GrantSkip


@dataclass(frozen=True)
class GrantRelay:
    """What one relay transaction did: the ids issued, in batch order, and the items skipped."""

    grant_ids: list[int]
    skipped: list[SkippedGrant]


@dataclass(frozen=True)
class RecordLeaf:
    """A data record's leaf preimage (``IDisputes.RecordLeaf``); the contract rehashes it."""

    salt: bytes
    record_uid: bytes
    subject_id: bytes
    category: int
    content_digest: bytes

    def as_tuple(self) -> tuple[bytes, bytes, bytes, int, bytes]:
        return (self.salt, self.record_uid, self.subject_id, self.category, self.content_digest)


@dataclass(frozen=True)
class AnchorRecord:
    root: bytes
    kind: AnchorKind
    submitter: str
    leaf_count: int
    sequence: int


@dataclass(frozen=True)
class AnchorEvent:
    """The transaction that anchored a root, as its ``Anchored`` log tells."""

    root: bytes
    sequence: int
    block_number: int
    tx_hash: bytes


class Ledger:
    """The deployed contract plus the platform's own signing key (the relayer/operator)."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.address: ChecksumAddress = Web3.to_checksum_address(deployment.address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=ledger_abi())
        self._domain: eip712.Domain | None = None

    @property
    def domain(self) -> eip712.Domain:
        if self._domain is None:
            self._domain = eip712.domain_from_contract(self.contract)
        return self._domain

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call()
        except Exception as exc:
            raise as_chain_error(exc) from None

    def transact(
        self, sender: Transactor, fn: str, *args: Any, gas: int | None = None
    ) -> TxReceipt:
        return sender.transact(getattr(self.contract.functions, fn)(*args), gas)

    def events(self, receipt: TxReceipt, event: str) -> list[Any]:
        return list(getattr(self.contract.events, event)().process_receipt(receipt, errors=DISCARD))

    # -- members -------------------------------------------------------------------------------
    def grant_role(self, admin: Transactor, role: str, account: str) -> TxReceipt:
        return self.transact(admin, "grantRole", role_id(role), Web3.to_checksum_address(account))

    def has_role(self, role: str, account: str) -> bool:
        return bool(self._call("hasRole", role_id(role), Web3.to_checksum_address(account)))

    def roles_of(self, account: str) -> set[str]:
        return {r.removesuffix("_ROLE").lower() for r in ROLE_NAMES if self.has_role(r, account)}

    def register_institution(
        self, operator: Transactor, account: str, kind: InstitutionType, name: str
    ) -> TxReceipt:
        return self.transact(
            operator, "registerInstitution", Web3.to_checksum_address(account), int(kind), name
        )

    def institution(self, account: str) -> InstitutionState:
        index, _kind, suspended, agreement_id, _nonce = self._call(
            "institution", Web3.to_checksum_address(account)
        )
        return InstitutionState(index=index, suspended=suspended, agreement_id=agreement_id)

    def institution_profile(self, account: str) -> tuple[str, InstitutionType] | None:
        checksum = Web3.to_checksum_address(account)
        index, kind, _suspended, _agreement, _nonce = self._call("institution", checksum)
        if index == 0:
            return None
        return str(self._call("institutionName", checksum)), InstitutionType(kind)

    def sign_registration(
        self, key: LocalAccount, subject_id: bytes, deadline: int | None = None
    ) -> tuple[int, bytes]:
        deadline = deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S
        message = {
            "subjectId": subject_id,
            "account": key.address,
            "nonce": self.nonce_of(key.address),
            "deadline": deadline,
        }
        return deadline, eip712.sign_typed(key.key, self.domain, "Registration", message)

    def bind_subject(
        self, operator: Transactor, subject_id: bytes, account: str, deadline: int, signature: bytes
    ) -> TxReceipt:
        return self.transact(
            operator,
            "bindSubject",
            subject_id,
            Web3.to_checksum_address(account),
            deadline,
            signature,
        )

    def rebind_subject(
        self, operator: Transactor, subject_id: bytes, account: str, deadline: int, signature: bytes
    ) -> TxReceipt:
        return self.transact(
            operator,
            "rebindSubject",
            subject_id,
            Web3.to_checksum_address(account),
            deadline,
            signature,
        )

    def subject_of(self, account: str) -> tuple[bytes, int]:
        subject_id, index = self._call("subjectOf", Web3.to_checksum_address(account))
        return bytes(subject_id), int(index)

    def account_of(self, subject_id: bytes) -> tuple[str, int]:
        account, index = self._call("accountOf", subject_id)
        return str(account), int(index)

    def nonce_of(self, account: str) -> int:
        return int(self._call("nonces", Web3.to_checksum_address(account)))

    # -- agreements ----------------------------------------------------------------------------
    def propose_agreement(
        self,
        operator: Transactor,
        institution: str,
        categories: int,
        purposes: int,
        not_before: int,
        not_after: int,
        document_hash: bytes,
    ) -> int:
        receipt = self.transact(
            operator,
            "proposeAgreement",
            Web3.to_checksum_address(institution),
            categories,
            purposes,
            not_before,
            not_after,
            document_hash,
        )
        return int(self.events(receipt, "AgreementProposed")[0]["args"]["agreementId"])

    def agreement_owner(self, agreement_id: int) -> tuple[int, AgreementStatus]:
        """The index of the institution an agreement is proposed to, and its status (NONE:
        no such agreement; the view does not revert)."""
        index, _cats, _purposes, _nb, _na, status, _doc = self._call("agreement", agreement_id)
        return int(index), AgreementStatus(status)

    def acceptance_nonce(self, institution: str) -> int:
        """The nonce a signed acceptance by ``institution`` must carry next."""
        return int(self._call("institution", Web3.to_checksum_address(institution))[4])

    def sign_acceptance(
        self,
        key: LocalAccount,
        agreement_id: int,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> tuple[int, bytes]:
        nonce = self.acceptance_nonce(key.address) if nonce is None else nonce
        deadline = deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S
        message = {"agreementId": agreement_id, "nonce": nonce, "deadline": deadline}
        return deadline, eip712.sign_typed(key.key, self.domain, "AgreementAcceptance", message)

    def relay_acceptance(
        self, relayer: Transactor, agreement_id: int, nonce: int, deadline: int, signature: bytes
    ) -> TxReceipt:
        return self.transact(
            relayer, "acceptAgreementBySig", agreement_id, nonce, deadline, signature
        )

    def withdraw_proposal(self, operator: Transactor, agreement_id: int) -> TxReceipt:
        return self.transact(operator, "withdrawProposal", agreement_id)

    def agreement(self, agreement_id: int) -> AgreementState:
        _inst, categories, purposes, not_before, not_after, status, _doc = self._call(
            "agreement", agreement_id
        )
        return AgreementState(categories, purposes, not_before, not_after, AgreementStatus(status))

    # -- grants --------------------------------------------------------------------------------
    def sign_grant(
        self,
        key: LocalAccount,
        terms: GrantTerms,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> SignedGrant:
        nonce = self.nonce_of(key.address) if nonce is None else nonce
        deadline = deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S
        signature = eip712.sign_typed(
            key.key, self.domain, "Grant", terms.as_message(nonce, deadline)
        )
        return SignedGrant(terms=terms, signer=key.address, deadline=deadline, signature=signature)

    def issue_grant(self, subject: Transactor, terms: GrantTerms) -> int:
        receipt = self.transact(subject, "issueGrant", terms.as_tuple())
        return int(self.events(receipt, "GrantIssued")[0]["args"]["grantId"])

    def relay_grants(self, relayer: Transactor, signed: list[SignedGrant]) -> list[int]:
        """Relay one or many signed grants in one transaction; returns the issued ids (a batch
        skips unusable items: ``relay_grant_batch`` says which)."""
        return self.relay_grant_batch(relayer, signed).grant_ids

    def relay_grant_batch(self, relayer: Transactor, signed: list[SignedGrant]) -> GrantRelay:
        """Relay one or many signed grants in one transaction. A single grant that cannot be
        used reverts (a ChainError); a batch issues the usable ones and reports the rest."""
        if len(signed) == 1:
            receipt = self.transact(relayer, "issueGrantBySig", signed[0].as_tuple())
        else:
            receipt = self.transact(
                relayer,
                "issueGrantsBySig",
                [s.as_compact_tuple() for s in signed],
                gas=GAS_BATCH_BASE + GAS_PER_BATCHED_GRANT * len(signed),
            )
        return GrantRelay(
            grant_ids=[int(e["args"]["grantId"]) for e in self.events(receipt, "GrantIssued")],
            skipped=[
                SkippedGrant(
                    index=int(e["args"]["index"]),
                    signer=str(e["args"]["signer"]),
                    reason=GrantSkip(e["args"]["reason"]),
                )
                for e in self.events(receipt, "GrantSkipped")
            ],
        )

    def sign_revocation(
        self,
        key: LocalAccount,
        grant_id: int,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> tuple[int, bytes]:
        nonce = self.nonce_of(key.address) if nonce is None else nonce
        deadline = deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S
        message = {"grantId": grant_id, "nonce": nonce, "deadline": deadline}
        return deadline, eip712.sign_typed(key.key, self.domain, "Revocation", message)

    def revoke_grant(self, subject: Transactor, grant_id: int) -> TxReceipt:
        return self.transact(subject, "revokeGrant", grant_id)

    def relay_revocation(
        self, relayer: Transactor, grant_id: int, signer: str, deadline: int, signature: bytes
    ) -> TxReceipt:
        return self.transact(
            relayer,
            "revokeGrantBySig",
            grant_id,
            Web3.to_checksum_address(signer),
            deadline,
            signature,
        )

    def sign_nonce_increase(
        self, key: LocalAccount, new_nonce: int, deadline: int | None = None
    ) -> tuple[int, bytes]:
        deadline = deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S
        message = {"newNonce": new_nonce, "nonce": self.nonce_of(key.address), "deadline": deadline}
        return deadline, eip712.sign_typed(key.key, self.domain, "IncreaseNonce", message)

    def grant(self, grant_id: int) -> GrantState:
        (subject, institution, categories, purpose, level, nb, na, max_uses), revoked = self._call(
            "grant", grant_id
        )
        return GrantState(
            grant_id=grant_id,
            subject_index=subject,
            institution_index=institution,
            categories=categories,
            purpose=Purpose(purpose),
            level=AccessLevel(level),
            not_before=nb,
            not_after=na,
            max_uses=max_uses,
            revoked=revoked,
        )

    def check_grant(
        self,
        grant_id: int,
        institution: str,
        category: int,
        purpose: Purpose,
        level: AccessLevel,
        used_count: int = 0,
        block: BlockIdentifier = "latest",
    ) -> GrantCheck:
        fn = self.contract.functions.checkGrant(
            grant_id,
            Web3.to_checksum_address(institution),
            category,
            int(purpose),
            int(level),
            used_count,
        )
        try:
            return GrantCheck(fn.call(block_identifier=block))
        except Exception as exc:
            raise as_chain_error(exc) from None

    # -- anchors -------------------------------------------------------------------------------
    def anchor(
        self, submitter: Transactor, kind: AnchorKind, root: bytes, leaf_count: int, ref: bytes
    ) -> tuple[int, TxReceipt]:
        return self.confirm_anchor(
            submitter, self.send_anchor(submitter, kind, root, leaf_count, ref)
        )

    def send_anchor(
        self, submitter: Transactor, kind: AnchorKind, root: bytes, leaf_count: int, ref: bytes
    ) -> SentTransaction:
        """``anchor`` sent, not waited for: ``confirm_anchor`` waits."""
        return submitter.send(self.contract.functions.anchor(int(kind), root, leaf_count, ref))

    def confirm_anchor(self, submitter: Transactor, sent: SentTransaction) -> tuple[int, TxReceipt]:
        """The anchor's sequence and receipt, once mined."""
        receipt = submitter.confirm(sent)
        return int(self.events(receipt, "Anchored")[0]["args"]["sequence"]), receipt

    def send_anchors(
        self,
        submitter: Transactor,
        kind: AnchorKind,
        items: list[tuple[bytes, int, bytes]],
    ) -> SentTransaction:
        """``anchorMany`` of ``(root, leaf_count, ref)`` items sent, not waited for: each root
        not anchored before gets its own sequence and ``Anchored`` log (``confirm_anchors``)."""
        roots, leaf_counts, refs = (list(column) for column in zip(*items, strict=True))
        call = self.contract.functions.anchorMany(int(kind), roots, leaf_counts, refs)
        return submitter.send(call, GAS_ANCHOR_GROUP_BASE + GAS_PER_GROUPED_ANCHOR * len(items))

    def confirm_anchors(
        self, submitter: Transactor, sent: SentTransaction
    ) -> tuple[dict[bytes, int], TxReceipt]:
        """The sequence of each root ``anchorMany`` anchored (roots anchored before are absent),
        and the receipt, once mined."""
        receipt = submitter.confirm(sent)
        sequences = {
            bytes(event["args"]["root"]): int(event["args"]["sequence"])
            for event in self.events(receipt, "Anchored")
        }
        return sequences, receipt

    def anchor_of(self, root: bytes) -> AnchorRecord | None:
        submitter, kind, leaf_count, sequence = self._call("anchorOf", root)
        if sequence == 0:
            return None
        return AnchorRecord(root, AnchorKind(kind), str(submitter), int(leaf_count), int(sequence))

    def anchor_event(self, root: bytes) -> AnchorEvent | None:
        """Where ``root`` was anchored, from its ``Anchored`` log (``root`` is an indexed
        topic, so the node filters); None if no such log since the deployment."""
        try:
            logs = self.contract.events.Anchored.get_logs(
                argument_filters={"root": root}, from_block=self.deployment.deployment_block
            )
        except Exception as exc:
            raise as_chain_error(exc) from None
        if not logs:
            return None
        log = logs[0]  # the contract refuses a second anchor of a root
        return AnchorEvent(
            root=root,
            sequence=int(log["args"]["sequence"]),
            block_number=int(log["blockNumber"]),
            tx_hash=bytes(log["transactionHash"]),
        )

    def block_time(self, block_number: int) -> int:
        """A block's timestamp (UTC seconds)."""
        try:
            return int(self.w3.eth.get_block(block_number)["timestamp"])
        except Exception as exc:
            raise as_chain_error(exc) from None

    def verify_inclusion(self, root: bytes, leaf: bytes, proof: list[bytes]) -> bool:
        return bool(self._call("verifyInclusion", root, leaf, proof))

    # -- disputes ------------------------------------------------------------------------------
    def sign_dispute(
        self,
        key: LocalAccount,
        kind: DisputeKind,
        anchor_root: bytes,
        leaf: bytes,
        reason_hash: bytes,
        deadline: int | None = None,
    ) -> tuple[int, bytes]:
        deadline = deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S
        message = {
            "kind": int(kind),
            "anchorRoot": anchor_root,
            "leaf": leaf,
            "reasonHash": reason_hash,
            "nonce": self.nonce_of(key.address),
            "deadline": deadline,
        }
        return deadline, eip712.sign_typed(key.key, self.domain, "OpenDispute", message)

    def relay_dispute(
        self,
        relayer: Transactor,
        kind: DisputeKind,
        anchor_root: bytes,
        record: RecordLeaf,
        proof: list[bytes],
        reason_hash: bytes,
        signer: str,
        deadline: int,
        signature: bytes,
    ) -> int:
        """Relay a signed dispute about ``record``; the signature names its leaf."""
        receipt = self.transact(
            relayer,
            "openDisputeBySig",
            int(kind),
            anchor_root,
            record.as_tuple(),
            proof,
            reason_hash,
            Web3.to_checksum_address(signer),
            deadline,
            signature,
        )
        return int(self.events(receipt, "DisputeOpened")[0]["args"]["disputeId"])

    def resolve_dispute(
        self, operator: Transactor, dispute_id: int, outcome: DisputeOutcome, resolution_hash: bytes
    ) -> TxReceipt:
        return self.transact(operator, "resolveDispute", dispute_id, int(outcome), resolution_hash)
