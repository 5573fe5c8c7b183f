"""Reason codes and model behaviour checked by hand, through the API.

The test bundle is boosted trees fitted on `make_raw`, where default risk rises with PAY_0
(months late last month) and with utilisation (BILL_AMT1 / LIMIT_BAL); SEX and MARRIAGE are
never model inputs and AGE is not one by default.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from helpers.api import Api, customer
from helpers.reason_checker import tally, tally_adverse

PAY = ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")


def scores(api: Api, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = api.client.post("/v1/predict/batch", json={"records": records})
    assert response.status_code == 200, response.text
    predictions: list[dict[str, Any]] = response.json()["predictions"]
    return predictions


def test_three_months_late_leads_with_recent_delinquency(api: Api) -> None:
    # Moderate utilisation (40%), otherwise never late: PAY_0 = 3 is what stands out.
    late = customer(PAY_0=3)

    body = api.client.post("/v1/predict", json=late).json()

    reasons = body["reason_codes"]
    assert reasons, body
    assert reasons[0].pop("contribution") > 0
    assert reasons[0] == {
        "code": "R01",
        "group": "RECENT_STATUS",
        "feature": "PAY_0",
        "attribute": "late",
        "value": "PAY_0 = 3",
        "text": "Payment 3 months late in September",
    }
    assert body["decision"] in {"review", "decline"}
    on_time = api.client.post("/v1/predict", json=customer(PAY_0=0)).json()
    assert body["probability_of_default"] > on_time["probability_of_default"]
    # Revolving credit in September may still be a reason, but never as a late payment.
    assert all(
        r["attribute"] != "late" for r in on_time["reason_codes"] if r["code"] in {"R01", "R02"}
    )


def test_always_paying_in_full_is_approved_without_delinquency_reasons(api: Api) -> None:
    full_payer = customer(
        LIMIT_BAL=200_000,
        **{p: -1 for p in PAY},
        **{f"BILL_AMT{m}": 5_000.0 for m in range(1, 7)},  # 2.5% utilisation
        **{f"PAY_AMT{m}": 5_000.0 for m in range(1, 7)},  # each bill paid in full
    )

    body = api.client.post("/v1/predict", json=full_payer).json()

    assert body["decision"] == "approve"
    codes = [r["code"] for r in body["reason_codes"]]
    assert "R01" not in codes and "R02" not in codes, codes  # favourable: never stated
    assert body["warnings"] == []


def test_raising_pay_0_from_0_to_2_never_lowers_the_pd(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    assert len(random_customers) == 200
    on_time = [{**r, "PAY_0": 0} for r in random_customers]
    late = [{**r, "PAY_0": 2} for r in random_customers]

    before, after = scores(api, on_time), scores(api, late)

    raised = 0
    for a, b, record in zip(before, after, random_customers, strict=True):
        assert b["probability_of_default"] >= a["probability_of_default"], record
        raised += b["probability_of_default"] > a["probability_of_default"]
    assert raised > 150, "being late should raise the PD of most customers, not just not lower it"
    assert sum("R01" in [r["code"] for r in p["reason_codes"]] for p in after) > sum(
        "R01" in [r["code"] for r in p["reason_codes"]] for p in before
    )


@pytest.mark.parametrize(
    ("field", "values"),
    [("SEX", (1, 2)), ("MARRIAGE", (0, 1, 2, 3)), ("AGE", (18, 35, 64, 100))],
)
def test_protected_attributes_never_change_the_answer(
    api: Api, random_customers: list[dict[str, Any]], field: str, values: tuple[int, ...]
) -> None:
    answers = []
    for value in values:
        records = [{**r, field: value} for r in random_customers]
        predictions = scores(api, records)
        for p in predictions:
            p["warnings"] = [w for w in p["warnings"] if not w.startswith(f"{field}=")]
        answers.append(predictions)
    for other in answers[1:]:
        assert other == answers[0]


def test_sex_and_marriage_swapped_together_change_nothing(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    swapped = copy.deepcopy(random_customers)
    for record in swapped:
        record["SEX"] = 3 - record["SEX"]
        record["MARRIAGE"] = (record["MARRIAGE"] + 1) % 4
    assert scores(api, swapped) == scores(api, random_customers)


def test_reasons_are_ordered_and_at_most_four(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    predictions = scores(api, random_customers)
    lengths = {len(p["reason_codes"]) for p in predictions}
    assert max(lengths) == 4 and lengths <= {0, 1, 2, 3, 4}
    late = [p for p, r in zip(predictions, random_customers, strict=True) if r["PAY_0"] >= 2]
    assert late
    leading = sum(p["reason_codes"][0]["code"] == "R01" for p in late if p["reason_codes"])
    assert leading >= 0.8 * len(late), "recent delinquency should usually lead when PAY_0 >= 2"


def test_every_reason_is_true_of_the_customer_and_adverse(
    api: Api, bundle: ModelBundle, random_customers: list[dict[str, Any]]
) -> None:
    predictions = scores(api, random_customers)
    low_limit = bundle.reason_policy.low_credit_limit
    given, untrue, problems = tally(
        random_customers, [p["reason_codes"] for p in predictions], low_limit
    )
    assert sum(given.values()) > 400 and not untrue and not problems, problems
    not_adverse, _, problems = tally_adverse([p["reason_codes"] for p in predictions])
    assert not not_adverse, problems
    single = [
        api.client.post("/v1/predict", json=r).json()["reason_codes"] for r in random_customers[:50]
    ]
    assert single == [p["reason_codes"] for p in predictions[:50]]
