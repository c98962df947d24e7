"""Sending one webhook: a POST and its status (and Retry-After), or ``PostError``.

``KeepAlivePoster`` (the default) keeps one HTTP/1.1 connection per endpoint and thread with
the standard library's ``http.client``: a delivery is one request on a warm connection, a
fraction of the per-request cost of building httpx's request and response models (measured
in the alerts benchmark). ``HttpxPoster`` sends through an ``httpx.Client`` (tests give it a
mock transport). Redirects are never followed: a webhook answers where it was registered.
"""

from __future__ import annotations

import http.client
import threading
from typing import Protocol
from urllib.parse import urlsplit

import httpx


class PostError(Exception):
    """The endpoint could not be reached or broke the connection (a network failure)."""


class Poster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        """(status, Retry-After header or None), or PostError."""
        ...

    def close(self) -> None: ...


class KeepAlivePoster:
    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connections(self) -> dict[tuple[str, str, int | None], http.client.HTTPConnection]:
        found: dict[tuple[str, str, int | None], http.client.HTTPConnection] | None
        found = getattr(self._local, "connections", None)
        if found is None:
            found = self._local.connections = {}
        return found

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        key = (parts.scheme, host, parts.port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connections = self._connections()
        for attempt in range(2):
            conn = connections.get(key)
            reused = conn is not None
            if conn is None:
                kind = (
                    http.client.HTTPSConnection
                    if parts.scheme == "https"
                    else http.client.HTTPConnection
                )
                conn = connections[key] = kind(host, parts.port, timeout=self.timeout_s)
                with self._lock:
                    self._all.append(conn)
            try:
                conn.request("POST", target, body, headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                    del connections[key]
                return response.status, response.getheader("retry-after")
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                connections.pop(key, None)
                # A kept-alive connection the server closed meanwhile: once more on a new one
                # (the receiver may see the same webhook-id twice; that is a retry).
                if not (reused and attempt == 0):
                    raise PostError(type(error).__name__) from error
        raise PostError("unreachable")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class HttpxPoster:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise PostError(type(error).__name__) from error
        return response.status_code, response.headers.get("retry-after")

    def close(self) -> None:
        self.client.close()
