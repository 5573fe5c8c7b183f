"""The model card renders every section and the key numbers."""

from __future__ import annotations

import numpy as np
import pytest

from bankrisk.evaluation.fairness import fairness_report
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.evaluation.model_card import ModelCardInput, render_model_card

SECTIONS = (
    "## Overview",
    "## Intended use",
    "## Data",
    "## Features",
    "## Performance",
    "## Fairness",
    "## Decision policy",
    "## Limitations",
)


@pytest.fixture
def card() -> ModelCardInput:
    rng = np.random.default_rng(1)
    n = 400
    pd = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < pd).astype(int)
    metrics = classification_metrics(y, pd, 0.1667)
    fairness = fairness_report(
        y,
        pd,
        0.1667,
        sex=rng.integers(1, 3, n),
        age=rng.integers(21, 70, n),
        marriage=rng.integers(0, 4, n),
    )
    return ModelCardInput(
        name="bank-default-risk",
        version="7",
        model_family="gbm",
        trained_at="2025-01-02T03:04:05+00:00",
        data_fingerprint={
            "sha256": "ab" * 32,
            "path": "data/x.csv",
            "rows": 24000,
            "columns": 25,
            "positive_rate": 0.22123,
            "dev_rows": 19200,
            "test_rows": 4800,
        },
        features=["LIMIT_BAL", "PAY_0", "utilisation_mean"],
        excluded_inputs=["SEX", "MARRIAGE", "AGE"],
        metrics=metrics,
        validation_metrics={"cv_log_loss": 0.43219, "cv_roc_auc": 0.777},
        fairness=fairness,
        threshold=0.1667,
        costs={"cost_missed_default": 5.0, "cost_declined_good": 1.0},
        score_scaling={"base_points": 600.0, "base_odds": 50.0, "points_to_double_odds": 20.0},
        grade_bands=[
            {"grade": "A1", "pd_min": 0.0, "pd_max": 0.02},
            {"grade": "A2", "pd_min": 0.02, "pd_max": 1.0},
        ],
    )


def test_sections_and_numbers(card: ModelCardInput) -> None:
    text = render_model_card(card)
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    m = card.metrics
    assert f"{m['roc_auc']:.4f}" in text
    assert f"{m['brier']:.4f}" in text
    assert f"{m['ece']:.4f}" in text
    assert f"| **Actual good** | {int(m['tn'])} | {int(m['fp'])} |" in text
    assert f"| **Actual default** | {int(m['fn'])} | {int(m['tp'])} |" in text
    assert "ab" * 32 in text and "| `rows` | 24000 |" in text and "0.2212" in text
    assert "0.4322" in text  # validation metrics
    assert "0.1667" in text and "600.0000" in text and "| A1 | 0.0000 | 0.0200 |" in text
    assert "`utilisation_mean`" in text and "`MARRIAGE`" in text
    for attribute in ("### SEX", "### AGE_BAND", "### MARRIAGE"):
        assert attribute in text
    ratio = card.fairness["attributes"]["SEX"]["adverse_impact_ratio"]
    assert f"{ratio:.4f}" in text
    assert "Four-fifths rule: **" in text
    assert "Taiwan" in text and "proxies" in text


def test_custom_limitations_and_no_validation(card: ModelCardInput) -> None:
    card.limitations = ["Only a test."]
    card.validation_metrics = None
    text = render_model_card(card)
    assert "- Only a test." in text
    assert "Taiwan" not in text
    assert "Validation" not in text


def test_reason_codes_table_and_education_note(card: ModelCardInput) -> None:
    assert "## Reason codes" in render_model_card(card)
    assert "No reason code frequencies available." in render_model_card(card)
    assert "EDUCATION is not an input" in render_model_card(card)
    card.reason_policy = {
        "baseline": {"population": "development rows that did not default", "rows": 14954},
        "low_credit_limit": 50000.0,
        "max_reasons": 4,
    }
    card.reason_codes = [
        {
            "code": "R03",
            "group": "UTILIZATION",
            "feature": "BILL_AMT1..6, LIMIT_BAL",
            "attribute": "high",
            "adverse": True,
            "text": "Balance high relative to the credit limit: average {mean:.0%}",
            "given": 812,
            "suppressed": 0,
        },
        {
            "code": "R02",
            "group": "DELINQUENCY_HISTORY",
            "feature": "PAY_0..PAY_6",
            "attribute": "never_late",
            "adverse": False,
            "text": "Never late in the last six months",
            "given": 0,
            "suppressed": 37,
        },
    ]
    card.use_education = True
    text = render_model_card(card)
    positions = [text.index(h) for h in ("## Decision policy", "## Reason codes", "## Limitations")]
    assert positions == sorted(positions)
    assert "development rows that did not default (14954 rows)" in text
    assert (
        "| `R03` | UTILIZATION | BILL_AMT1..6, LIMIT_BAL | `high` | yes | Balance high relative "
        "to the credit limit: average {mean:.0%} | 812 | 0 |"
    ) in text
    never_late = "| `never_late` | no (never given) | Never late in the last six months | 0 | 37 |"
    assert never_late in text
    assert "EDUCATION is an input" in text and "never a reason code" in text
