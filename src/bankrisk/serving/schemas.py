"""Pydantic models of the API's requests and responses, for the OpenAPI schema and /docs.

Requests are validated by `core.validation` (same rules, built from `bankrisk.schema`);
these models document them, so the two cannot drift apart: both read `schema.FIELDS`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from bankrisk.core.validation import MAX_CUSTOMER_ID_LENGTH
from bankrisk.schema import FIELDS, OPTIONAL, FieldSpec

OPTIONAL_NOTE = (
    "Optional: never asked unless the model scores it (then a request without it is "
    "refused, naming it); absent or null, it is not used and is logged as null"
)

# A real customer from the UCI data (ID 1: two months late, defaulted).
EXAMPLE_CUSTOMER: dict[str, Any] = {
    "customer_id": "C-000001",
    "LIMIT_BAL": 20000,
    "SEX": 2,
    "EDUCATION": 2,
    "MARRIAGE": 1,
    "AGE": 24,
    "PAY_0": 2,
    "PAY_2": 2,
    "PAY_3": -1,
    "PAY_4": -1,
    "PAY_5": -2,
    "PAY_6": -2,
    "BILL_AMT1": 3913,
    "BILL_AMT2": 3102,
    "BILL_AMT3": 689,
    "BILL_AMT4": 0,
    "BILL_AMT5": 0,
    "BILL_AMT6": 0,
    "PAY_AMT1": 0,
    "PAY_AMT2": 689,
    "PAY_AMT3": 0,
    "PAY_AMT4": 0,
    "PAY_AMT5": 0,
    "PAY_AMT6": 0,
}


def _field(spec: FieldSpec) -> tuple[Any, Any]:
    """A field's type and range; an OPTIONAL one may be left out (or null)."""
    kind: Any = int if spec.integer else float
    if spec.name in OPTIONAL:
        return kind | None, Field(
            None,
            ge=spec.minimum,
            le=spec.maximum,
            description=f"{spec.description}. {OPTIONAL_NOTE}",
        )
    return kind, Field(ge=spec.minimum, le=spec.maximum, description=spec.description)


Customer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Customer",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_CUSTOMER]}),
    customer_id=(
        str | None,
        Field(
            None,
            min_length=1,
            max_length=MAX_CUSTOMER_ID_LENGTH,
            description="Your reference, echoed back",
        ),
    ),
    **{spec.name: _field(spec) for spec in FIELDS},
)


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"records": [EXAMPLE_CUSTOMER]}]}
    )
    records: list[Customer] = Field(min_length=1, description="Up to the batch limit")


class ReasonCode(BaseModel):
    """A characteristic that raised this customer's risk against the good-risk baseline, and
    the customer's own attribute of it; the text is true of the customer's inputs."""

    code: str = Field(description="Stable reason code", examples=["R01"])
    group: str = Field(description="The characteristic", examples=["RECENT_STATUS"])
    feature: str = Field(description="Input fields behind the reason", examples=["PAY_0"])
    attribute: str = Field(
        description="The customer's attribute of the characteristic (a stable key)",
        examples=["late"],
    )
    value: str = Field(description="The customer's value behind it", examples=["PAY_0 = 2"])
    text: str = Field(
        description="Plain-language reason, true of the customer's inputs",
        examples=["Payment 2 months late in September"],
    )
    contribution: float = Field(
        gt=0,
        description="Logit points above the good-risk baseline (non-defaulting development "
        "rows); reasons are ordered by it, largest first",
        examples=[0.8123],
    )


class ModelRef(BaseModel):
    name: str
    version: str
    role: str = Field(
        description="champion, or canary when a challenger in canary mode answered",
        examples=["champion"],
    )


class Prediction(BaseModel):
    customer_id: str | None
    probability_of_default: float = Field(ge=0, le=1, description="Calibrated PD, next month")
    score: int = Field(description="Points: 600 at 50:1 good:bad odds, 20 to double the odds")
    risk_grade: str = Field(description="Master-scale grade, A1 best")
    decision: str = Field(description="approve, review or decline")
    reason_codes: list[ReasonCode] = Field(max_length=4)
    warnings: list[str]
    model: ModelRef | None = Field(
        None,
        description="In a batch, when a canary is configured: the model that answered "
        "this customer",
    )


class PredictionResponse(Prediction):
    model: ModelRef
    request_id: str


class BatchResponse(BaseModel):
    model: ModelRef
    request_id: str
    predictions: list[Prediction]


class FieldError(BaseModel):
    index: int | None = Field(description="Record index in a batch; null for one customer")
    field: str | None
    message: str


class ErrorResponse(BaseModel):
    detail: str
    errors: list[FieldError] = []


class Status(BaseModel):
    status: str


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    model_family: str | None = None
    trained_at: str | None = None
    data_fingerprint: dict[str, Any] = {}
    test_metrics: dict[str, Any] = {}
    threshold: float
    review_threshold: float
    features: list[dict[str, Any]]
    input_fields: list[dict[str, Any]]


# Every error status the API answers with an ErrorResponse body, and what it means.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed JSON",
    401: "Missing or invalid API key",
    413: "Body or batch too large",
    422: "Invalid fields, each named with why",
    503: "Model not loaded",
}
# The FastAPI routes behind authentication can only be refused or not ready.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]} for code in (401, 503)
}
