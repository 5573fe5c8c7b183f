"""Health, readiness and Prometheus metrics: open even when API keys are required."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bankrisk.serving.deps import ServiceDep, unrecorded
from bankrisk.serving.responses import JSONResponse
from bankrisk.serving.schemas import Status

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Status, summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Status,
    responses={503: {"model": Status}},
    summary="Readiness: the bundle is loaded and warmed up (and, with a required log, "
    "decisions are being recorded)",
)
async def ready(service: ServiceDep) -> JSONResponse:
    if service.scorer is None:
        return JSONResponse({"status": "model not loaded"}, status_code=503)
    if service.required_log is not None and (why := service.required_log.recording):
        return JSONResponse({"status": unrecorded(why)}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
