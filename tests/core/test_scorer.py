"""The one-customer fast path gives the same answers as the matrix path, and its validation
accepts and refuses exactly what the batch validation does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bankrisk.core.scorer import Scorer
from bankrisk.core.validation import InvalidRecordsError, validate_one, validate_records
from bankrisk.schema import FIELD_NAMES, OPTIONAL
from bankrisk.serving.errors import as_request_error
from helpers.api import customer
from helpers.factories import make_raw


def test_predict_one_matches_predict(scorer: Scorer) -> None:
    raw, _ = make_raw(400, seed=17)
    # Some values outside the training range, for the warnings.
    raw[:40, FIELD_NAMES.index("LIMIT_BAL")] = 990_000
    raw[40:80, FIELD_NAMES.index("BILL_AMT1")] = -300_000
    ids = [f"C{i}" for i in range(len(raw))]

    batch = scorer.predict(raw, ids)

    warned = 0
    for row, customer_id, expected in zip(raw, ids, batch, strict=True):
        # The same answer to the last bit (boosted trees: one ONNX model, no BLAS).
        assert scorer.predict_one(row.tolist(), customer_id) == expected
        warned += bool(expected["warnings"])
    assert warned >= 80
    assert len({p["decision"] for p in batch}) > 1 and len({p["risk_grade"] for p in batch}) > 2


GOOD = [
    customer(),
    customer(customer_id=None),
    {k: v for k, v in customer().items() if k != "customer_id"},
    customer(PAY_0=2.0, LIMIT_BAL=50_000.0),  # whole floats in integer fields
    customer(BILL_AMT1=-12.5, PAY_AMT3=0),
    {k: v for k, v in customer().items() if k != "AGE"},  # optional: not an input by default
    {k: v for k, v in customer().items() if k not in OPTIONAL},
    customer(SEX=None, MARRIAGE=None),
]
BAD = [
    customer(PAY_0=1.5),
    customer(AGE=True),
    customer(LIMIT_BAL="100000"),
    customer(LIMIT_BAL=0),
    customer(BILL_AMT1=float("nan")),
    customer(BILL_AMT1=float("inf")),
    customer(PAY_AMT1=10**400),
    customer(customer_id=""),
    customer(customer_id=7),
    customer(extra=1),
    {k: v for k, v in customer().items() if k != "LIMIT_BAL"},
    customer(SEX=3),  # optional, but checked when given
    customer(MARRIAGE=float("nan")),
    customer(AGE=None, LIMIT_BAL=None),
    [customer()],
    "customer",
]


@pytest.mark.parametrize("body", GOOD)
def test_validate_one_accepts_what_validate_records_accepts(body: dict[str, Any]) -> None:
    values, customer_id = validate_one(body)
    rows, ids = validate_records([body], indexed=False)
    assert np.array_equal(values, rows[0], equal_nan=True) and [customer_id] == ids
    assert all(type(v) is float for v in values)


@pytest.mark.parametrize("body", BAD)
def test_validate_one_refuses_what_validate_records_refuses(body: Any) -> None:
    with pytest.raises(InvalidRecordsError) as one:
        validate_one(body)
    assert as_request_error(one.value).status == 422
    if isinstance(body, dict):
        with pytest.raises(InvalidRecordsError) as batch:
            validate_records([body], indexed=False)
        assert (one.value.summary, one.value.errors) == (batch.value.summary, batch.value.errors)


def test_optional_fields_unknown_score_alike(scorer: Scorer) -> None:
    """Without the optional fields (NaN, as validation gives them), every answer is the same:
    PD, score, grade, decision, reasons and warnings; on both scoring paths."""
    raw, _ = make_raw(3000, seed=23)
    raw[:300, FIELD_NAMES.index("LIMIT_BAL")] = 990_000  # some warnings too
    unknown = raw.copy()
    unknown[:, [FIELD_NAMES.index(name) for name in OPTIONAL]] = np.nan
    ids = [f"C{i}" for i in range(len(raw))]
    given = scorer.predict(raw, ids)
    assert scorer.predict(unknown, ids) == given
    for row, customer_id, expected in zip(unknown[:200], ids, given, strict=False):
        assert scorer.predict_one(row.tolist(), customer_id) == expected
    assert len({p["decision"] for p in given}) == 3 and any(p["warnings"] for p in given)
