"""Builds the FastAPI application around a loaded bundle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Mount
from starlette.types import Scope

from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.store import PredictionStore
from bankrisk.serving.deps import Service
from bankrisk.serving.drift_gauge import MonitoringCollector, make_writer
from bankrisk.serving.errors import RequestError, error_body
from bankrisk.serving.observability import JsonLogger, Metrics, ObservabilityMiddleware
from bankrisk.serving.reload import Reloader
from bankrisk.serving.responses import JSONResponse
from bankrisk.serving.routes import admin, customer, model, operations, predict
from bankrisk.serving.schemas import (
    BatchRequest,
    BatchResponse,
    Customer,
    ErrorResponse,
    PredictionResponse,
)
from bankrisk.serving.security import ApiKeyAuth
from bankrisk.serving.served import build_models

DESCRIPTION = """Probability that a credit-card customer defaults next month, calibrated,
with points, a master-scale grade, a decision and reason codes (each true of the customer's
own inputs, with the value behind it). SEX, MARRIAGE and AGE are accepted for fairness
monitoring but are not model inputs (AGE unless configured); EDUCATION is not an input by
default and never a reason."""


# Swagger UI and ReDoc come from the `fastapi-offline` package and are served by the API
# itself: /docs works on a network without internet access.
DOCS_ASSETS = "/docs-assets"
_ASSETS_DIR = files("fastapi_offline") / "static"


def _error(exc: RequestError) -> Response:
    headers = {"content-type": "application/json", **exc.headers}
    return Response(error_body(exc.detail, exc.errors), status_code=exc.status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """JSON errors; anything unexpected becomes a JSON 500 in ObservabilityMiddleware."""

    @app.exception_handler(RequestError)
    async def request_problem(request: Request, exc: RequestError) -> Response:
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(RequestError(exc.status_code, str(exc.detail), (), dict(exc.headers or {})))


class _Assets(Mount):
    """A mount that names itself as the matched route: metrics label its requests by the
    mount's path, not by every file path asked for."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, their scripts and styles served from the package."""
    app.router.routes.append(_Assets(DOCS_ASSETS, StaticFiles(directory=str(_ASSETS_DIR))))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's schema plus the scoring endpoints, which are plain ASGI routes."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, defs = models_json_schema(
            [
                (Customer, "validation"),
                (BatchRequest, "validation"),
                (PredictionResponse, "serialization"),
                (BatchResponse, "serialization"),
                (ErrorResponse, "serialization"),
            ],
            ref_template="#/components/schemas/{model}",
        )
        defs["$defs"]["BatchRequest"]["properties"]["records"]["maxItems"] = (
            settings.max_batch_records
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        schema["paths"] = {
            **predict.openapi_paths(),
            **customer.openapi_paths(),
            **schema["paths"],
        }
        app.openapi_schema = schema
    return app.openapi_schema


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
    (`ProcessLogWriter`, `app.state.service.log_writer`; its owner closes it: `bankrisk
    serve` does on shutdown). Without one (the default) nothing is logged: the app opens no
    store by itself, whatever `settings.prediction_log` says.

    `challenger` (loaded with its role, `settings.challenger_mode`) is served beside the
    champion; `app.state.reloader` reloads both, the champion from `model_dir` (default
    `settings.model_dir`) and the challenger from `settings.challenger_dir`.
    """
    logger = logger or JsonLogger()
    version = scorer.bundle.version if scorer else "none"
    metrics = Metrics()
    auth = ApiKeyAuth(settings.api_keys)
    writer = (
        make_writer(prediction_store, settings, on_drop=metrics.log_dropped.inc)
        if prediction_store is not None
        else None
    )
    service = Service(settings=settings, metrics=metrics, auth=auth, log_writer=writer)
    if scorer is not None:
        service.models = build_models(scorer, challenger, settings, metrics, writer)
        metrics.show_models(scorer.model_ref, service.models.challenger_ref)
    metrics.registry.register(MonitoringCollector(lambda: service.drift, writer))
    reloader = Reloader(service, logger, model_dir or settings.model_dir, settings.challenger_dir)
    app = FastAPI(
        lifespan=_lifespan(reloader),
        title="Bank default-risk API",
        version=version,
        description=DESCRIPTION,
        default_response_class=JSONResponse,
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry looks up the global providers on every request
        # (~15 us); the service has its own metrics and logs, and configures no OTel.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    app.state.reloader = reloader
    # The router tries routes in order: the scoring endpoints first, then the FastAPI routes,
    # then /openapi.json (added by FastAPI's constructor) and the docs.
    docs_routes = list(app.router.routes)
    app.router.routes[:] = predict.ROUTES
    app.include_router(model.router, dependencies=[Depends(auth)] if auth.enabled else [])
    app.include_router(operations.router)
    customer.install(app, settings, logger)  # by id from the feature store, if configured
    admin_key = settings.admin_api_key.get_secret_value()
    if admin_key:  # else no such route: 404
        admin_auth = ApiKeyAuth((admin_key,), "admin key")
        app.include_router(admin.router, dependencies=[Depends(admin_auth)])
    app.router.routes.extend(docs_routes)
    _install_docs(app)
    _install_error_handlers(app)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, logger=logger)
    # What a server runs: scoring requests straight to their endpoints, the rest to `app`.
    app.state.entry = predict.ScoringShortcut(
        app, ObservabilityMiddleware(predict.to_route, metrics=metrics, logger=logger)
    )
    return app
