"""Optional API-key authentication. Keys are held only as SHA-256 digests and compared in
constant time; with no keys configured, authentication is off."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyAuth:
    """FastAPI dependency: accepts `X-API-Key: KEY` or `Authorization: Bearer KEY`."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = tuple(_digest(k) for k in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def is_valid(self, key: str) -> bool:
        candidate = _digest(key)
        found = False
        for digest in self._digests:  # no early exit: timing does not reveal which key
            found |= hmac.compare_digest(candidate, digest)
        return found

    async def __call__(self, request: Request) -> None:
        if not self._digests:
            return
        key = request.headers.get("x-api-key")
        if key is None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            key = token if scheme.lower() == "bearer" else None
        if not key or not self.is_valid(key):
            raise HTTPException(
                status_code=401,
                detail="missing or invalid API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
