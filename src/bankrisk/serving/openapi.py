"""The OpenAPI schema, derived from the routes and the settings, and its pages (/docs,
/redoc) with their scripts and styles served from the package, so that they work on a
network without internet access (`fastapi-offline`)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.responses import HTMLResponse
from starlette.routing import Mount

from bankrisk.config import Settings
from bankrisk.serving.endpoints import ApiRoute, NamesItself, Operation
from bankrisk.serving.schemas import ERROR_DESCRIPTIONS, BatchRequest, ErrorResponse

DOCS_ASSETS = "/docs-assets"
_ASSETS_DIR = files("fastapi_offline") / "static"
# With API keys on, every operation but the open ones (health, readiness, metrics) takes one,
# in either header: Swagger UI's Authorize button sets it for "Try it out".
SECURITY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "HTTPBearer": {"type": "http", "scheme": "bearer"},
}
_OPEN_TAGS = {"operations"}


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def operation(spec: Operation) -> dict[str, Any]:
    """The OpenAPI operation of an `ApiRoute`."""
    errors = {**ERROR_DESCRIPTIONS, **spec.errors}
    described: dict[str, Any] = {"tags": ["scoring"], "summary": spec.summary}
    if spec.path_params:
        described["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in spec.path_params.items()
        ]
    if spec.body is not None:
        described["requestBody"] = {"required": True, "content": _content(spec.body)}
    described["responses"] = {
        "200": {"description": "Scored", "content": _content(spec.response)},
        **{
            str(code): {"description": text, "content": _content(ErrorResponse)}
            for code, text in errors.items()
        },
    }
    if spec.deprecated:
        described["deprecated"] = True
    return described


def _components(routes: list[ApiRoute], settings: Settings) -> dict[str, Any]:
    models: dict[str, type[BaseModel]] = {}
    for route in routes:
        for model in (route.operation.body, route.operation.response):
            if model is not None:
                models.setdefault(model.__name__, model)
    models[ErrorResponse.__name__] = ErrorResponse
    _, defs = models_json_schema(
        [
            (
                model,
                "serialization"
                if model is ErrorResponse or name.endswith("Response")
                else "validation",
            )
            for name, model in models.items()
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = defs["$defs"]
    batch = schemas.get(BatchRequest.__name__)
    if batch is not None:
        batch["properties"]["records"]["maxItems"] = settings.max_batch_records
    return schemas


def build_openapi(app: FastAPI, settings: Settings, routes: list[ApiRoute]) -> dict[str, Any]:
    """FastAPI's schema of its own routes, plus the plain ASGI endpoints' operations and
    their models, and the security schemes when API keys are on."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(
        _components(routes, settings)
    )
    schema["paths"] = {
        **{route.path: {"post": operation(route.operation)} for route in routes},
        **schema["paths"],
    }
    if settings.api_keys:
        schema["components"]["securitySchemes"] = SECURITY_SCHEMES
        for path_item in schema["paths"].values():
            for described in path_item.values():
                if not _OPEN_TAGS & set(described.get("tags", [])):
                    described["security"] = [{name: []} for name in SECURITY_SCHEMES]
    app.openapi_schema = schema
    return schema


class _Assets(NamesItself, Mount):
    """The docs' scripts and styles, labelled by the mount's path."""


def install_docs(app: FastAPI) -> None:
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
