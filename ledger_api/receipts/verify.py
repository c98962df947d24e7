"""Check an access receipt without trusting the platform's word for it.

A receipt file is a read's whole JSON answer (what ``ccl-bank --receipt-out`` saves): the data,
its ``receipt`` (grant, checked block, access-log entry, response hash) and ``signed_receipt``
(the same claims with the entry's hash, signed by the platform's key). ``verify_receipt`` runs
five checks, each a ``Step``:

1. ``response``: the answer's SHA-256 (canonical JSON, without the receipts) is the receipt's
   ``response_hash`` (skipped when the file holds only the receipts);
2. ``signature``: the claims recover to the signer, the signer is the platform's key, and the
   claims are the receipt's;
3. ``entry``: the access-log entry's hash recomputed from its fields and the previous hash is
   the signed one, and the entry records this read (institution, subject, grant, block, hash);
4. ``inclusion``: the entry's Merkle proof leads to its range's root and that root is anchored
   on chain; until its range is anchored this step is open (``not_anchored``), not failed;
5. ``grant``: the contract's canonical grant check at the checked block, with the grant's
   allowed uses before this entry, says ``usable`` (for each category a score used).

The verdict is ``verified``, ``not_anchored`` (everything else holds; ask again later) or
``failed`` (a step failed; its detail says why).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from ledger_api.accesslog.entries import entry_leaf, recompute_entry_hash
from ledger_api.anchoring.merkle import record_leaf, verify_proof
from ledger_api.api.gate import canonical_json
from ledger_api.api.schemas import RecordProofOut
from ledger_api.errors import InputError, LedgerError
from ledger_api.receipts.sources import ReceiptSources

VERIFIED = "verified"
NOT_ANCHORED = "not_anchored"
FAILED = "failed"
RECEIPT_KEYS = ("receipt", "signed_receipt")
_MATCHED_CLAIMS = ("grant_id", "checked_block", "access_log_id", "response_hash")
MAX_RECEIPT_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool | None  # None: could not be decided yet (the entry is not anchored)
    detail: str


@dataclass
class ReceiptVerdict:
    steps: list[Step] = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(step.ok is False for step in self.steps):
            return FAILED
        if any(step.ok is None for step in self.steps):
            return NOT_ANCHORED
        return VERIFIED

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in self.steps],
        }


def load_receipt_file(path: Path) -> dict[str, Any]:
    """A saved answer with its receipts; InputError when it is not one."""
    try:
        if path.stat().st_size > MAX_RECEIPT_FILE_BYTES:
            raise InputError(f"{path} is larger than {MAX_RECEIPT_FILE_BYTES} bytes")
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read receipt file {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"receipt file {path} is not JSON", code="bad_receipt_file") from None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(k), dict) for k in RECEIPT_KEYS
    ):
        raise InputError(
            f"receipt file {path} holds no receipt and signed_receipt "
            "(save one with --receipt-out)",
            code="bad_receipt_file",
        )
    return document


def verify_receipt(document: Mapping[str, Any], sources: ReceiptSources) -> ReceiptVerdict:
    """Run the five checks (module docstring) over a saved answer."""
    verdict = ReceiptVerdict()
    receipt: Mapping[str, Any] = document["receipt"]
    signed: Mapping[str, Any] = document["signed_receipt"]
    claims: Mapping[str, Any] = signed.get("claims") or {}
    verdict.steps.append(_response_step(document, receipt))
    verdict.steps.append(_signature_step(receipt, signed, claims, sources))
    entry = _fetch_entry(receipt, sources, verdict)
    if entry is None:
        return verdict
    verdict.steps.append(_entry_step(entry, claims))
    verdict.steps.append(_inclusion_step(entry, sources))
    verdict.steps.append(_grant_step(entry, sources))
    return verdict


def record_leaf_of(proof: RecordProofOut) -> bytes:
    """A record's Merkle leaf recomputed from what its subject is shown (the proof's preimage)."""
    return record_leaf(
        _bytes(proof.salt),
        _bytes(proof.record_uid),
        _bytes(proof.subject_id),
        proof.category,
        _bytes(proof.content_digest),
    )


# -- the steps ----------------------------------------------------------------------------------


def _response_step(document: Mapping[str, Any], receipt: Mapping[str, Any]) -> Step:
    payload = {k: v for k, v in document.items() if k not in RECEIPT_KEYS}
    if not payload:
        return Step("response", True, "the file holds only the receipts: no answer to hash")
    digest = "0x" + hashlib.sha256(canonical_json(payload)).hexdigest()
    if digest != str(receipt.get("response_hash", "")).lower():
        return Step("response", False, "the answer in the file is not the one the receipt names")
    return Step("response", True, f"the answer hashes to the receipt's {digest}")


def _signature_step(
    receipt: Mapping[str, Any],
    signed: Mapping[str, Any],
    claims: Mapping[str, Any],
    sources: ReceiptSources,
) -> Step:
    try:
        recovered = Account.recover_message(
            encode_defunct(primitive=canonical_json(dict(claims))),
            signature=str(signed.get("signature", "")),
        )
    except Exception:  # malformed signature bytes: as bad as a wrong one
        return Step("signature", False, "the platform's signature is malformed")
    signer = str(signed.get("signer", ""))
    if recovered.lower() != signer.lower():
        return Step("signature", False, "the signature does not match the signed claims")
    differing = [k for k in _MATCHED_CLAIMS if claims.get(k) != receipt.get(k)]
    if differing:
        return Step(
            "signature", False, f"the signed claims differ from the receipt: {', '.join(differing)}"
        )
    if not sources.signer_is_platform(recovered):
        return Step("signature", False, f"{recovered} is not the platform's receipt key")
    return Step("signature", True, f"signed by the platform's key {recovered}")


def _fetch_entry(
    receipt: Mapping[str, Any], sources: ReceiptSources, verdict: ReceiptVerdict
) -> dict[str, Any] | None:
    try:
        return sources.entry(int(receipt["access_log_id"]))
    except LedgerError as exc:
        verdict.steps.append(
            Step("entry", False, f"the platform shows no such entry: {exc.detail}")
        )
    except (KeyError, TypeError, ValueError):
        verdict.steps.append(Step("entry", False, "the receipt names no access-log entry"))
    return None


def _entry_step(entry: Mapping[str, Any], claims: Mapping[str, Any]) -> Step:
    fields: Mapping[str, Any] = entry["fields"]
    recomputed = "0x" + recompute_entry_hash(fields).hex()
    if recomputed != str(entry["entry_hash"]).lower():
        return Step("entry", False, "the entry's fields do not hash to its entry hash")
    if recomputed != str(claims.get("entry_hash", "")).lower():
        return Step("entry", False, "the entry is not the one the platform signed for")
    expected = {
        "actor": claims.get("institution"),
        "subject_id": claims.get("subject_id"),
        "grant_id": claims.get("grant_id"),
        "checked_block": claims.get("checked_block"),
        "response_hash": claims.get("response_hash"),
        "decision": "allowed",
    }
    differing = [k for k, v in expected.items() if _norm(fields.get(k)) != _norm(v)]
    if differing:
        return Step("entry", False, f"the entry records another access: {', '.join(differing)}")
    return Step("entry", True, f"entry {fields['id']} hashes to {recomputed} and records this read")


def _inclusion_step(entry: Mapping[str, Any], sources: ReceiptSources) -> Step:
    if not entry.get("anchored") or entry.get("root") is None:
        return Step("inclusion", None, "the entry's range is not anchored yet: check again later")
    leaf = entry_leaf(_bytes(str(entry["entry_hash"])))
    root = _bytes(str(entry["root"]))
    proof = [_bytes(p) for p in entry.get("proof") or []]
    if not verify_proof(proof, root, leaf):
        return Step("inclusion", False, "the entry's proof does not lead to its root")
    if not sources.anchored(root):
        return Step("inclusion", False, f"root 0x{root.hex()} is not anchored on chain")
    return Step("inclusion", True, f"included under root 0x{root.hex()}, anchored on chain")


def _grant_step(entry: Mapping[str, Any], sources: ReceiptSources) -> Step:
    fields: Mapping[str, Any] = entry["fields"]
    grant_id = fields.get("grant_id")
    if grant_id is None:
        return Step("grant", True, "no grant involved (a standard report needs an agreement only)")
    categories = _categories(fields)
    block = int(fields["checked_block"])
    for category in categories:
        code = sources.grant_check(
            int(grant_id),
            block,
            str(fields["actor"]),
            category,
            int(fields["purpose"]),
            int(fields["level"]),
            int(entry.get("uses_before", 0)),
        )
        if code != "usable":
            return Step("grant", False, f"grant {grant_id} was not usable at block {block}: {code}")
    return Step("grant", True, f"grant {grant_id} was usable at block {block}")


def _categories(fields: Mapping[str, Any]) -> list[int]:
    if fields.get("categories") is not None:
        mask = int(fields["categories"])
        return [bit for bit in range(32) if mask >> bit & 1]
    return [int(fields.get("category") or 0)]


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)
