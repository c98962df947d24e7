"""A ``ccl`` command's work sent to the running stack's API, signed with the operator key.

Used when ``stack_link.running_stack_url`` finds the embedded chain held by ``ccl stack``;
the results have the same shape as the local path's (``as_dict()`` of the same objects).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger_api.client import LedgerClient


class StackApi:
    def __init__(self, client: LedgerClient) -> None:
        self.client = client

    def ingest(self, provider: str, category: str, data: bytes, fmt: str | None) -> dict[str, Any]:
        chosen = fmt or "jsonl"
        content_type = "text/csv" if chosen == "csv" else "application/x-ndjson"
        return dict(
            self.client.call(
                "POST",
                "/v1/operator/batches",
                params={"provider": provider, "category": category, "format": chosen},
                content=data,
                content_type=content_type,
            )
        )

    def resume(self) -> list[dict[str, Any]]:
        return list(self.client.call("POST", "/v1/operator/batches/resume"))

    def verify(self) -> dict[str, Any]:
        return dict(self.client.call("GET", "/v1/operator/verify"))

    def publish_catalog(self, document: bytes) -> dict[str, Any]:
        return dict(
            self.client.call(
                "POST", "/v1/operator/catalog", content=document, content_type="application/json"
            )
        )

    def indexer_status(self) -> dict[str, Any]:
        return dict(self.client.call("GET", "/v1/operator/indexer"))


@contextmanager
def stack_api(api_url: str) -> Iterator[StackApi]:
    import httpx

    from ledger_api.admin_cli import operator_client

    with operator_client(api_url) as client:
        # A large batch or a whole verification takes longer than one signed read.
        client.http.timeout = httpx.Timeout(900.0)
        yield StackApi(client)
