"""Shared FastAPI dependencies."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from bankrisk.serving.scorer import Scorer
from bankrisk.serving.validation import RequestError


def loaded_scorer(state: Any) -> Scorer:
    """The app's scorer, or 503 while no bundle is loaded."""
    found: Scorer | None = state.scorer
    if found is None:
        raise RequestError(503, "model not loaded")
    return found


def scorer(request: Request) -> Scorer:
    return loaded_scorer(request.app.state)
