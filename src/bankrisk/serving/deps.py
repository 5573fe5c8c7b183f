"""Shared FastAPI dependencies."""

from __future__ import annotations

from fastapi import Request

from bankrisk.serving.scorer import Scorer
from bankrisk.serving.validation import RequestError


def scorer(request: Request) -> Scorer:
    found: Scorer | None = request.app.state.scorer
    if found is None:
        raise RequestError(503, "model not loaded")
    return found
