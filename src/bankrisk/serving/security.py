"""Optional API-key authentication. Keys are held only as SHA-256 digests and compared in
constant time; with no keys configured, authentication is off."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from fastapi import Request

from bankrisk.serving.errors import RequestError


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyAuth:
    """Accepts `X-API-Key: KEY` or `Authorization: Bearer KEY`; a FastAPI dependency too."""

    def __init__(self, keys: tuple[str, ...], what: str = "API key") -> None:
        self._digests = tuple(_digest(k) for k in keys)
        self.what = what  # named in the 401's message

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def is_valid(self, key: str) -> bool:
        candidate = _digest(key)
        found = False
        for digest in self._digests:  # no early exit: timing does not reveal which key
            found |= hmac.compare_digest(candidate, digest)
        return found

    def check(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Raise RequestError(401) unless the ASGI headers carry a valid key."""
        if not self._digests:
            return
        key = None
        for name, value in raw_headers:
            if name == b"x-api-key":
                key = value.decode("latin-1")
            elif name == b"authorization" and key is None:
                scheme, _, token = value.decode("latin-1").partition(" ")
                key = token.strip() if scheme.lower() == "bearer" else None
        if not key or not self.is_valid(key):
            raise RequestError(
                401, f"missing or invalid {self.what}", headers={"WWW-Authenticate": "Bearer"}
            )

    async def __call__(self, request: Request) -> None:
        self.check(request.headers.raw)
