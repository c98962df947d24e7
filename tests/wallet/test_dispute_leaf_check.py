"""The wallet signs a dispute only about a leaf that rehashes from a record of its own subject."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from world import leaf_of, subject_record

from ledger_api.errors import IntegrityError
from wallet_cli.disputes import _require_own_leaf

MINE, OTHER = b"\x01" * 32, b"\x02" * 32


def _proof_of(subject_id: bytes, leaf: bytes | None = None) -> SimpleNamespace:
    record = subject_record(subject_id, 5)
    return SimpleNamespace(
        leaf="0x" + (leaf or leaf_of(record)).hex(),
        salt="0x" + record.salt.hex(),
        subject_id="0x" + record.subject_id.hex(),
        category=record.category,
        content_digest="0x" + record.content_digest.hex(),
        record_uid="0x" + record.record_uid.hex(),
    )


def test_a_leaf_that_rehashes_from_the_subjects_own_record_is_accepted() -> None:
    proof = _proof_of(MINE)
    _require_own_leaf(proof, proof.record_uid, "0x" + MINE.hex())


@pytest.mark.parametrize(
    "proof",
    [
        _proof_of(OTHER),  # another subject's record
        _proof_of(MINE, leaf=b"\x03" * 32),  # a leaf (e.g. an inner node) not of this preimage
        SimpleNamespace(**{**vars(_proof_of(MINE)), "salt": ""}),  # an older server: no preimage
    ],
)
def test_any_other_leaf_is_refused_before_signing(proof: SimpleNamespace) -> None:
    with pytest.raises(IntegrityError) as caught:
        _require_own_leaf(proof, proof.record_uid, "0x" + MINE.hex())
    assert caught.value.code == "bad_record_leaf"
