"""`POST /v1/admin/reload`: registered only when BANKRISK_ADMIN_API_KEY is set (else 404)."""

from __future__ import annotations

from fastapi import APIRouter

from bankrisk.serving.deps import ServiceDep
from bankrisk.serving.errors import RequestError
from bankrisk.serving.responses import JSONResponse

router = APIRouter(tags=["admin"])


@router.post(
    "/v1/admin/reload",
    summary="Load, verify and warm the champion (and challenger) again, then swap them in",
    responses={
        401: {"description": "Missing or wrong admin key"},
        409: {"description": "The new bundle was refused; the old one keeps serving"},
    },
)
async def reload(service: ServiceDep) -> JSONResponse:
    assert service.reloader is not None  # create_app sets it
    result = await service.reloader.reload("POST /v1/admin/reload")
    if not result.ok:
        raise RequestError(409, f"reload refused: {result.problem}")
    return JSONResponse(
        {"status": "reloaded", "champion": result.champion, "challenger": result.challenger}
    )
