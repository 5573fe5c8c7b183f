"""The served model's card: what an analyst or auditor needs to know about it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bankrisk.serving.deps import ScorerDep
from bankrisk.serving.responses import JSONResponse
from bankrisk.serving.schemas import ERROR_RESPONSES, ModelCard

router = APIRouter(tags=["model"])

_CARD_KEYS = (
    "name",
    "version",
    "model_family",
    "trained_at",
    "data_fingerprint",
    "test_metrics",
    "cv_metrics",
    "fairness",
    "costs",
    "excluded_inputs",
    "features",
    "input_fields",
    "reason_codes",
    "reason_policy",
    "use_education",
    "predictor",
    "calibration",
)


def model_card(metadata: dict[str, Any]) -> dict[str, Any]:
    policy = metadata["policy"]
    return {
        **{key: metadata.get(key) for key in _CARD_KEYS if key in metadata},
        "threshold": policy["threshold"],
        "review_threshold": policy["review_threshold"],
        "grade_bands": policy["grade_bands"],
        "score_scaling": policy["score_scaling"],
    }


@router.get(
    "/v1/model",
    response_model=ModelCard,
    responses=ERROR_RESPONSES,
    summary="The served model's card",
)
async def model(scorer: ScorerDep) -> JSONResponse:
    return JSONResponse(model_card(scorer.bundle.describe()))
