"""Shared request helpers: the app's state, and reading a size-limited JSON body."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from bankrisk.serving.scorer import Scorer
from bankrisk.serving.validation import RequestError, parse_json


def scorer(request: Request) -> Scorer:
    found: Scorer | None = request.app.state.scorer
    if found is None:
        raise RequestError(503, "model not loaded")
    return found


async def read_json(request: Request, limit: int) -> Any:
    """The parsed body, refusing more than `limit` bytes (413) before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body over the {limit}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise RequestError(400, "empty request body: send a JSON object")
    return parse_json(body)
