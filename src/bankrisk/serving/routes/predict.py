"""Scoring endpoints: one customer, or a batch answered in order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from bankrisk.serving.deps import read_json, scorer
from bankrisk.serving.responses import JSONResponse
from bankrisk.serving.schemas import ERROR_RESPONSES, BatchResponse, PredictionResponse
from bankrisk.serving.validation import RequestError, validate_records

router = APIRouter(tags=["scoring"])


def _body_schema(model: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
        }
    }


def _record(request: Request, scores: Any, n: int) -> None:
    request.app.state.metrics.record_scores(scores.pd, scores.decisions, scores.grades)
    request.state.log["model_version"] = request.app.state.scorer.model_ref["version"]
    request.state.log["records"] = n


@router.post(
    "/v1/predict",
    response_model=PredictionResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_schema("Customer"),
    summary="Score one customer",
)
@router.post(
    "/predict",
    response_model=PredictionResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_schema("Customer"),
    deprecated=True,
    summary="Score one customer (the original design's path; same as /v1/predict)",
)
async def predict_one(request: Request) -> JSONResponse:
    service = scorer(request)
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise RequestError(422, "body must be a JSON object of one customer's fields")
    rows, ids = validate_records([body], indexed=False)
    scores, predictions = service.predict(rows, ids)
    _record(request, scores, 1)
    request.state.log.update(
        event="scored",
        detail=f"prob={scores.pd[0]:.4f}",
        decision=scores.decisions[0],
        risk_grade=scores.grades[0],
    )
    return JSONResponse(
        {
            **predictions[0],
            "model": service.model_ref,
            "request_id": request.state.request_id,
        }
    )


@router.post(
    "/v1/predict/batch",
    response_model=BatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=_body_schema("BatchRequest"),
    summary="Score up to the batch limit in order",
)
async def predict_batch(request: Request) -> JSONResponse:
    service = scorer(request)
    settings = request.app.state.settings
    body = await read_json(request, settings.max_body_bytes)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records or set(body) != {"records"}:
        raise RequestError(422, 'body must be {"records": [customer, ...]} with at least one')
    if len(records) > settings.max_batch_records:
        raise RequestError(
            413, f"{len(records)} records: the batch limit is {settings.max_batch_records}"
        )
    rows, ids = validate_records(records)
    scores, predictions = service.predict(rows, ids)
    _record(request, scores, len(records))
    request.state.log.update(
        event=f"scored {len(records)} customers", detail=f"mean_prob={scores.pd.mean():.4f}"
    )
    return JSONResponse(
        {
            "model": service.model_ref,
            "request_id": request.state.request_id,
            "predictions": predictions,
        }
    )
