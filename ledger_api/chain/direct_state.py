"""``ChainState`` read straight from the contract (strict mode, and until the replica exists).

Every answer comes from contract views at the latest block, plus the ``GrantIssued`` and
``DisputeOpened`` event logs where the contract keeps no per-subject index. It is always
current (lag 0) but each question costs RPC calls: the API wraps it in ``CachedChainState``.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from ledger_api.chain.grant_layout import decode_grant_word
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.state import AgreementRecord, InstitutionProfile, StatePoint, SubjectBinding
from ledger_api.chain.types import (
    AgreementStatus,
    DisputeOutcome,
    DisputeStatus,
    InstitutionType,
)

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_ID = b"\x00" * 32


class DirectChainState:
    """Implements ``ledger_api.chain.state.ChainState`` over a ``Ledger``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._functions = ledger.contract.functions
        self._from_block = ledger.deployment.deployment_block

    def _view(self, fn: str, *args: Any) -> Any:
        return self.ledger._call(fn, *args)

    def position(self) -> StatePoint:
        block = self.ledger.w3.eth.get_block("latest")
        return StatePoint(int(block["number"]), int(block["timestamp"]))

    def grant(self, grant_id: int) -> GrantState | None:
        if grant_id <= 0 or grant_id > int(self._view("grantCount")):
            return None
        return self.ledger.grant(grant_id)

    def grants_of_subject(self, subject_index: int) -> list[GrantState]:
        """Every grant issued by the subject; revoked ones keep their terms from the event."""
        return self._issued_grants({"subjectIndex": subject_index})

    def grants_of_institution(self, address: str) -> list[GrantState]:
        return self._issued_grants({"institution": Web3.to_checksum_address(address)})

    def agreements_of_institution(self, address: str) -> list[AgreementRecord]:
        event = self.ledger.contract.events.AgreementProposed()
        logs = event.get_logs(
            from_block=self._from_block,
            argument_filters={"institution": Web3.to_checksum_address(address)},
        )
        found = []
        for log in logs:
            args = log["args"]
            agreement_id = int(args["agreementId"])
            status = self._view("agreement", agreement_id)[5]
            found.append(
                AgreementRecord(
                    agreement_id=agreement_id,
                    institution=str(args["institution"]),
                    categories=int(args["categories"]),
                    purposes=int(args["purposes"]),
                    not_before=int(args["notBefore"]),
                    not_after=int(args["notAfter"]),
                    document_hash=bytes(args["documentHash"]),
                    status=AgreementStatus(status),
                )
            )
        return sorted(found, key=lambda a: a.agreement_id)

    def _issued_grants(self, argument_filters: dict[str, Any]) -> list[GrantState]:
        event = self.ledger.contract.events.GrantIssued()
        logs = event.get_logs(from_block=self._from_block, argument_filters=argument_filters)
        grants = []
        for log in logs:
            grant_id = int(log["args"]["grantId"])
            word = decode_grant_word(int(log["args"]["terms"]))
            _stored, revoked = self._view("grant", grant_id)
            grants.append(
                GrantState(
                    grant_id=grant_id,
                    subject_index=word.subject_index,
                    institution_index=word.institution_index,
                    categories=word.categories,
                    purpose=word.purpose,
                    level=word.level,
                    not_before=word.not_before,
                    not_after=word.not_after,
                    max_uses=word.max_uses,
                    revoked=bool(revoked),
                )
            )
        return grants

    def institution(self, address: str) -> InstitutionProfile | None:
        checksum = Web3.to_checksum_address(address)
        index, kind, suspended, agreement_id, _nonce = self._view("institution", checksum)
        if index == 0:
            return None
        return InstitutionProfile(
            address=checksum,
            index=int(index),
            kind=InstitutionType(kind),
            name=str(self._view("institutionName", checksum)),
            suspended=bool(suspended),
            agreement_id=int(agreement_id),
        )

    def institution_at(self, index: int) -> InstitutionProfile | None:
        if index <= 0 or index >= 2**32:
            return None
        address = str(self._view("institutionAt", index))
        if address == ZERO_ADDRESS or int(address, 16) == 0:
            return None
        return self.institution(address)

    def agreement(self, agreement_id: int) -> AgreementState | None:
        if agreement_id <= 0:
            return None
        try:
            state = self.ledger.agreement(agreement_id)
        except Exception:  # unknown ids revert
            return None
        return state

    def subject_by_account(self, address: str) -> SubjectBinding | None:
        checksum = Web3.to_checksum_address(address)
        subject_id, index = self.ledger.subject_of(checksum)
        if index == 0:
            return None
        return SubjectBinding(subject_id=subject_id, subject_index=index, account=checksum)

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None:
        account, index = self.ledger.account_of(subject_id)
        if index == 0:
            return None
        return SubjectBinding(subject_id=subject_id, subject_index=index, account=account)

    def subject_by_index(self, subject_index: int) -> SubjectBinding | None:
        if subject_index <= 0 or subject_index >= 2**32:
            return None
        subject_id = bytes(self._view("subjectIdAt", subject_index))
        if subject_id == ZERO_ID:
            return None
        return self.subject_by_id(subject_id)

    def roles_of(self, address: str) -> set[str]:
        return self.ledger.roles_of(address)

    def disputes_of_subject(self, subject_index: int) -> list[dict[str, Any]]:
        """The subject's disputes with their live status (not part of the protocol)."""
        event = self.ledger.contract.events.DisputeOpened()
        logs = event.get_logs(
            from_block=self._from_block, argument_filters={"subjectIndex": subject_index}
        )
        disputes = []
        for log in logs:
            dispute_id = int(log["args"]["disputeId"])
            (_subject, kind, status, outcome, opened_at, resolved_at, root, leaf) = self._view(
                "dispute", dispute_id
            )
            disputes.append(
                {
                    "dispute_id": dispute_id,
                    "kind": int(kind),
                    "status": DisputeStatus(status),
                    "outcome": DisputeOutcome(outcome),
                    "opened_at": int(opened_at),
                    "resolved_at": int(resolved_at),
                    "anchor_root": bytes(root),
                    "leaf": bytes(leaf),
                    "tx_hash": bytes(log["transactionHash"]),
                }
            )
        return disputes

    def open_dispute_leaves(self, subject_index: int) -> set[bytes]:
        return {
            d["leaf"]
            for d in self.disputes_of_subject(subject_index)
            if d["status"] == DisputeStatus.OPEN
        }

    def hidden_leaves(self, subject_index: int) -> set[bytes]:
        return {
            d["leaf"]
            for d in self.disputes_of_subject(subject_index)
            if d["status"] == DisputeStatus.RESOLVED
            and d["outcome"] in (DisputeOutcome.UPHELD, DisputeOutcome.REPAIRED)
        }
