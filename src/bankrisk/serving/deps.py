"""What every route needs from the app, as one typed object, and FastAPI dependencies on it.

`Service` is built by `create_app` and kept as `app.state.service`, the one thing read from
the app's state: routes take it as `ServiceDep` (or the loaded scorer as `ScorerDep`), the
plain ASGI endpoints through `service_of(scope["app"])`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.serving.drift_gauge import InputDrift
from bankrisk.serving.errors import RequestError
from bankrisk.serving.observability import Metrics
from bankrisk.serving.priority import Priority
from bankrisk.serving.security import ApiKeyAuth
from bankrisk.serving.served import ServedModels

if TYPE_CHECKING:
    from bankrisk.feature_store.online import OnlineFeatures
    from bankrisk.serving.reload import Reloader


@dataclass
class Service:
    """The app's settings, metrics and auth; the prediction log's writer (None when the log
    is off); the models served (None until loaded; replaced whole by a reload: read `models`
    once per request), the reloader that replaces them, and the feature store's reader for
    scoring by id (None when no store is configured); the interactive requests in flight,
    which batch slices give way to."""

    settings: Settings
    metrics: Metrics
    auth: ApiKeyAuth
    log_writer: ProcessLogWriter | None = None
    models: ServedModels | None = None
    reloader: Reloader | None = None
    features: OnlineFeatures | None = None
    priority: Priority = field(default_factory=Priority)

    def current(self) -> ServedModels:
        """The models served now; 503 while none is loaded, or while a required log cannot
        record the decision."""
        models = self.models
        if models is None:
            raise RequestError(503, "model not loaded")
        if self.required_log is not None and (why := self.required_log.recording):
            raise RequestError(503, unrecorded(why))
        return models

    @property
    def required_log(self) -> ProcessLogWriter | None:
        """The log's writer when every decision must be recorded (else None)."""
        return self.log_writer if self.settings.prediction_log_required else None

    @property
    def scorer(self) -> Scorer | None:
        return None if self.models is None else self.models.champion

    @property
    def drift(self) -> InputDrift | None:
        """The champion's input-drift counts (None without reference distributions)."""
        return None if self.models is None else self.models.drift


def unrecorded(why: str) -> str:
    """Why a required log refuses to score."""
    return (
        f"not scored: {why}; this instance scores only decisions it can record "
        "(BANKRISK_PREDICTION_LOG_REQUIRED); retry, or another instance"
    )


def service_of(app: Any) -> Service:
    """The Service of a Starlette app (`scope["app"]` or `request.app`)."""
    found: Service = app.state.service
    return found


def get_service(request: Request) -> Service:
    return service_of(request.app)


def get_scorer(request: Request) -> Scorer:
    """The loaded champion's scorer, or 503."""
    return service_of(request.app).current().champion


ServiceDep = Annotated[Service, Depends(get_service)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
