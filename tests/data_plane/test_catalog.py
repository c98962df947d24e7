from __future__ import annotations

import hashlib
import json

import pytest

from ledger_api.anchoring.anchorer import AnchorKind
from ledger_api.catalog import default_catalog, load_catalog, mask_record, mask_value
from ledger_api.catalog.loader import DEFAULT_CATALOG, canonical_json, parse_catalog
from ledger_api.catalog.publish import publish_catalog
from ledger_api.errors import ConflictError, InputError

EXPECTED = [
    "registration", "judicial", "tax", "social_insurance", "housing_fund", "environment",
    "real_estate", "administrative", "utilities", "rnd_technology", "financial_assets",
    "public_resource_trading", "self_reported", "credit_commitments", "supply_chain",
]  # fmt: skip


def test_catalog_v1_has_the_fifteen_categories_with_stable_bits() -> None:
    catalog = default_catalog()
    assert catalog.version == 1
    assert [c.name for c in catalog.categories] == EXPECTED
    assert [c.bit for c in catalog.categories] == list(range(15))
    assert catalog.bitmask(["registration", "tax"]) == 0b101


def test_every_field_has_type_classification_and_masking() -> None:
    for category in default_catalog().categories:
        for field in category.fields:
            assert field.type in ("string", "integer", "decimal", "date", "boolean", "enum")
            assert field.classification in ("PUBLIC", "RESTRICTED", "SENSITIVE")
            if field.classification == "SENSITIVE":
                assert field.masking != "none"


def test_tax_grade_enum_and_sensitive_person_fields() -> None:
    catalog = default_catalog()
    assert catalog.category("tax").field("tax_grade").values == ("A", "B", "C", "D", "M")
    reg = catalog.category("registration")
    assert reg.field("legal_representative").masking == "name_first_char"
    assert reg.field("legal_rep_id_number").masking == "keep_first3_last4"
    assert reg.field("contact_phone").classification == "SENSITIVE"


def test_catalog_hash_is_sha256_of_canonical_json() -> None:
    document = json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    catalog = default_catalog()
    assert catalog.hash == hashlib.sha256(canonical_json(document)).digest()
    # whitespace and key order do not change the hash
    reordered = json.loads(json.dumps(document, indent=7, sort_keys=True))
    assert parse_catalog(reordered).hash == catalog.hash


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["categories"][1].update(bit=0), "bits must be unique"),
        (lambda d: d["categories"][0]["fields"][0].update(type="float"), "type must be"),
        (lambda d: d["categories"][0]["fields"][0].update(masking="blur"), "masking rule"),
        (lambda d: d["categories"][2]["fields"][0].update(classification="SECRET"), "classif"),
        (lambda d: d.update(version=0), "version"),
    ],
)
def test_loader_rejects_invalid_catalogs(mutate, message, tmp_path) -> None:
    document = json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    mutate(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=message):
        load_catalog(path)


def test_masking_rules() -> None:
    assert mask_value("name_first_char", "张三丰") == "张**"
    assert mask_value("keep_first3_last4", "410105199001011234") == "410***********1234"
    assert mask_value("keep_first3_last4", "13812345678") == "138****5678"
    assert mask_value("hide_all", "secret") == "***"
    assert mask_value("none", 5) == 5


def test_mask_record_masks_only_sensitive_fields_below_detail() -> None:
    reg = default_catalog().category("registration")
    record = {"enterprise_name": "郑州华豫商贸有限公司", "legal_representative": "王伟",
              "contact_phone": "13812345678"}  # fmt: skip
    masked = mask_record(reg, record, detail=False)
    assert masked == {"enterprise_name": "郑州华豫商贸有限公司", "legal_representative": "王*",
                      "contact_phone": "138****5678"}  # fmt: skip
    assert mask_record(reg, record, detail=True) == record


def test_publishing_anchors_the_hash_once_and_records_the_version(engine, anchorer) -> None:
    catalog = default_catalog()
    first = publish_catalog(engine, anchorer, catalog)
    on_chain = anchorer.anchored(catalog.hash)
    assert on_chain is not None and on_chain.kind == AnchorKind.CATALOG_VERSION
    again = publish_catalog(engine, anchorer, catalog)
    assert again.already_published and not first.already_published
    assert anchorer.calls == 1


def test_publishing_a_changed_catalog_under_the_same_version_is_refused(engine, anchorer) -> None:
    publish_catalog(engine, anchorer, default_catalog())
    document = json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    document["description"] = "changed"
    with pytest.raises(ConflictError):
        publish_catalog(engine, anchorer, parse_catalog(document))
