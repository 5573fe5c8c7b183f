"""Builds the FastAPI application around a loaded bundle."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from bankrisk.config import Settings
from bankrisk.serving.batcher import MicroBatcher
from bankrisk.serving.observability import JsonLogger, Metrics, ObservabilityMiddleware
from bankrisk.serving.responses import JSONResponse
from bankrisk.serving.routes import model, operations, predict
from bankrisk.serving.schemas import (
    BatchRequest,
    BatchResponse,
    Customer,
    ErrorResponse,
    PredictionResponse,
)
from bankrisk.serving.scorer import Scorer
from bankrisk.serving.security import ApiKeyAuth
from bankrisk.serving.validation import RequestError

DESCRIPTION = """Probability that a credit-card customer defaults next month, calibrated,
with points, a master-scale grade, a decision and reason codes. SEX, MARRIAGE and AGE are
accepted for fairness monitoring but are not model inputs (AGE unless configured)."""


def _error(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "errors": errors or []}, status_code=status, headers=headers
    )


def _install_error_handlers(app: FastAPI) -> None:
    """JSON errors; anything unexpected becomes a JSON 500 in ObservabilityMiddleware."""

    @app.exception_handler(RequestError)
    async def request_problem(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


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
        schema["paths"] = {**predict.openapi_paths(), **schema["paths"]}
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(
    settings: Settings, scorer: Scorer | None, logger: JsonLogger | None = None
) -> FastAPI:
    """The API; with `scorer` None it runs but is not ready (503 on /ready and scoring)."""
    logger = logger or JsonLogger()
    version = scorer.bundle.version if scorer else "none"
    app = FastAPI(
        title="Bank default-risk API",
        version=version,
        description=DESCRIPTION,
        default_response_class=JSONResponse,
    )
    app.state.settings = settings
    app.state.scorer = scorer
    app.state.metrics = Metrics()
    app.state.batcher = MicroBatcher(scorer, app.state.metrics) if scorer else None
    if scorer is not None:
        app.state.metrics.model_info.labels(**scorer.model_ref).set(1)
    app.state.auth = auth = ApiKeyAuth(settings.api_keys)
    # The router tries routes in order: the scoring endpoints first, FastAPI's own /docs and
    # /openapi.json (added by its constructor) last.
    docs_routes = list(app.router.routes)
    app.router.routes[:] = predict.ROUTES
    app.include_router(model.router, dependencies=[Depends(auth)] if auth.enabled else [])
    app.include_router(operations.router)
    app.router.routes.extend(docs_routes)
    _install_error_handlers(app)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics, logger=logger)
    return app
