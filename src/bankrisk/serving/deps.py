"""What every route needs from the app, as one typed object (`app.state.service`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.serving.batcher import MicroBatcher
from bankrisk.serving.drift_gauge import InputDrift
from bankrisk.serving.errors import RequestError
from bankrisk.serving.observability import Metrics
from bankrisk.serving.security import ApiKeyAuth
from bankrisk.serving.served import ServedModels


@dataclass
class Service:
    """The app's settings, metrics and auth, the prediction log's writer (None when the log
    is off), and the models served (None until loaded; replaced whole by a reload: read
    `models` once per request)."""

    settings: Settings
    metrics: Metrics
    auth: ApiKeyAuth
    log_writer: ProcessLogWriter | None = None
    models: ServedModels | None = None

    def current(self) -> ServedModels:
        """The models served now, or 503 while none is loaded."""
        models = self.models
        if models is None:
            raise RequestError(503, "model not loaded")
        return models

    def loaded(self) -> tuple[Scorer, MicroBatcher]:
        """The champion's scorer and its batcher, or 503 while no bundle is loaded."""
        models = self.current()
        return models.champion, models.batcher

    @property
    def scorer(self) -> Scorer | None:
        return None if self.models is None else self.models.champion

    @property
    def drift(self) -> InputDrift | None:
        """The champion's input-drift counts (None without reference distributions)."""
        return None if self.models is None else self.models.drift


def service_of(app: Any) -> Service:
    """The Service of a Starlette app (`scope["app"]` or `request.app`)."""
    found: Service = app.state.service
    return found


def scorer(request: Request) -> Scorer:
    """FastAPI routes: the loaded scorer, or 503."""
    return service_of(request.app).loaded()[0]
