"""Builds the FastAPI application around a loaded bundle: wiring only (the service in
deps.py, the endpoints in routes/, the schema in openapi.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.opening import open_writer
from bankrisk.prediction_log.store import PredictionStore
from bankrisk.serving.deps import Service
from bankrisk.serving.drift_gauge import MonitoringCollector
from bankrisk.serving.endpoints import FastPath
from bankrisk.serving.errors import RequestError, error_body
from bankrisk.serving.observability import JsonLogger, Metrics, ObservabilityMiddleware
from bankrisk.serving.openapi import build_openapi, install_docs
from bankrisk.serving.reload import Reloader
from bankrisk.serving.responses import JSONResponse
from bankrisk.serving.routes import admin, customer, model, operations, predict
from bankrisk.serving.security import ApiKeyAuth
from bankrisk.serving.served import build_models

DESCRIPTION = """Probability that a credit-card customer defaults next month, calibrated,
with points, a master-scale grade, a decision and reason codes (each true of the customer's
own inputs, with the value behind it). SEX, MARRIAGE and AGE are accepted for fairness
monitoring but are not model inputs (AGE unless configured); EDUCATION is not an input by
default and never a reason."""
# The plain ASGI endpoints, tried before FastAPI's routes (see serving/endpoints.py).
SCORING_ROUTES = [*predict.ROUTES, customer.ROUTE]


def _error(exc: RequestError) -> Response:
    headers = {"content-type": "application/json", **exc.headers}
    return Response(error_body(exc.detail, exc.errors), status_code=exc.status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """JSON errors (404 and 405 too); anything unexpected becomes a JSON 500 in
    ObservabilityMiddleware."""

    @app.exception_handler(RequestError)
    async def request_problem(request: Request, exc: RequestError) -> Response:
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(RequestError(exc.status_code, str(exc.detail), (), dict(exc.headers or {})))


def _lifespan(reloader: Reloader) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await reloader.start()  # polls BANKRISK_MODEL_SOURCE when set
        try:
            yield
        finally:
            await reloader.stop()

    return lifespan


def create_app(
    settings: Settings,
    scorer: Scorer | None,
    logger: JsonLogger | None = None,
    prediction_store: PredictionStore | None = None,
    challenger: Scorer | None = None,
    model_dir: Path | None = None,
) -> FastAPI:
    """The API; with `scorer` None it runs but is not ready (503 on /ready and scoring).

    With `prediction_store` every scored customer is written to it by a writer process
    (`Service.log_writer`; its owner closes it: `bankrisk serve` does on shutdown). Without
    one (the default) nothing is logged: the app opens no store by itself, whatever
    `settings.prediction_log` says.

    `challenger` (loaded with its role, `settings.challenger_mode`) is served beside the
    champion; `Service.reloader` reloads both, the champion from `model_dir` (default
    `settings.model_dir`) and the challenger from `settings.challenger_dir`.

    What a server runs is `app.state.entry` (`FastPath` in front of the app).
    """
    logger = logger or JsonLogger()
    metrics = Metrics()
    auth = ApiKeyAuth(settings.api_keys)
    writer = (
        open_writer(settings, on_drop=metrics.log_dropped.inc, store=prediction_store)
        if prediction_store is not None
        else None
    )
    service = Service(settings=settings, metrics=metrics, auth=auth, log_writer=writer)
    if scorer is not None:
        service.models = build_models(scorer, challenger, settings, metrics, writer)
        metrics.show_models(scorer.model_ref, service.models.challenger_ref)
    metrics.registry.register(MonitoringCollector(lambda: service.drift, writer))
    service.reloader = Reloader(
        service, logger, model_dir or settings.model_dir, settings.challenger_dir
    )
    service.features = customer.open_features(settings, logger)

    app = FastAPI(
        lifespan=_lifespan(service.reloader),
        title="Bank default-risk API",
        version=scorer.bundle.version if scorer else "none",
        description=DESCRIPTION,
        default_response_class=JSONResponse,
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry looks up the global providers on every request
        # on every request; the service has its own metrics and logs, and configures no OTel.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    # The router tries routes in order: the scoring endpoints first, then the FastAPI routes,
    # then /openapi.json (added by FastAPI's constructor) and the docs.
    docs_routes = list(app.router.routes)
    app.router.routes[:] = SCORING_ROUTES
    app.include_router(model.router, dependencies=[Depends(auth)] if auth.enabled else [])
    app.include_router(operations.router)
    admin_key = settings.admin_api_key.get_secret_value()
    if admin_key:  # else no such route: 404
        admin_auth = ApiKeyAuth((admin_key,), "admin key")
        app.include_router(admin.router, dependencies=[Depends(admin_auth)])
    app.router.routes.extend(docs_routes)
    install_docs(app)
    _install_error_handlers(app)
    app.openapi = lambda: build_openapi(app, settings, SCORING_ROUTES)  # type: ignore[method-assign]
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, logger=logger)
    app.state.entry = FastPath(
        app,
        SCORING_ROUTES,
        lambda endpoint: ObservabilityMiddleware(endpoint, metrics=metrics, logger=logger),
    )
    return app
