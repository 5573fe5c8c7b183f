"""What every route needs from the app, as one typed object (`app.state.service`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from bankrisk.config import Settings
from bankrisk.monitoring.log_writer import PredictionLogWriter
from bankrisk.serving.batcher import MicroBatcher
from bankrisk.serving.errors import RequestError
from bankrisk.serving.monitoring import InputDrift
from bankrisk.serving.observability import Metrics
from bankrisk.serving.scorer import Scorer
from bankrisk.serving.security import ApiKeyAuth


@dataclass(frozen=True)
class Service:
    """The app's settings, model (None until loaded), batcher, metrics and auth; the
    prediction log's writer (None when the log is off) and the input-drift counts (None
    without a model or its reference distributions)."""

    settings: Settings
    scorer: Scorer | None
    batcher: MicroBatcher | None
    metrics: Metrics
    auth: ApiKeyAuth
    log_writer: PredictionLogWriter | None = None
    drift: InputDrift | None = None

    def loaded(self) -> tuple[Scorer, MicroBatcher]:
        """The scorer and its batcher, or 503 while no bundle is loaded."""
        if self.scorer is None or self.batcher is None:
            raise RequestError(503, "model not loaded")
        return self.scorer, self.batcher


def service_of(app: Any) -> Service:
    """The Service of a Starlette app (`scope["app"]` or `request.app`)."""
    found: Service = app.state.service
    return found


def scorer(request: Request) -> Scorer:
    """FastAPI routes: the loaded scorer, or 503."""
    return service_of(request.app).loaded()[0]
