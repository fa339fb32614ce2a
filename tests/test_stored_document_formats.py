"""Stored documents (product_documents, order_documents) are JSON built once and kept until
their product or order changes: a change to what a document holds (a field added, renamed or
retyped in its Pydantic model) would leave every stored one in its old shape. This test pins
each document's shape; when it fails, add a migration that empties the table of the changed
kind (`TRUNCATE product_documents` or `TRUNCATE order_documents`: documents are built again by
their next read), then record the new fingerprint here. A Pydantic upgrade may move a
fingerprint without changing the JSON sent: then only record it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from shopdb.catalog.read_model.schemas import ProductDetail
from shopdb.orders.schemas import OrderDetail, OrderSummary

# The shape of each stored document, as fingerprint() computes it.
FINGERPRINTS = {
    "product_documents": "0851adead0e6e975",
    "order_documents (detail)": "2efa5c0f224b6b2b",
    "order_documents (summary)": "4f72356a7a80e27d",
}


def fingerprint(model: type[BaseModel]) -> str:
    """A digest of the model's JSON schema in serialisation mode: field names as sent (their
    aliases), types, nesting and order."""
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="serialization")
    return hashlib.sha256(json.dumps(schema, sort_keys=False).encode()).hexdigest()[:16]


def test_stored_documents_keep_their_shape() -> None:
    found = {
        "product_documents": fingerprint(ProductDetail),
        "order_documents (detail)": fingerprint(OrderDetail),
        "order_documents (summary)": fingerprint(OrderSummary),
    }
    assert found == FINGERPRINTS, (
        "a stored document's shape changed: add a migration that empties its table "
        "(see this module's docstring), then record the new fingerprints"
    )
