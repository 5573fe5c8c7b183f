"""`ModelBundle.score_columns`, the batch scorer's core, against `ModelBundle.score`, the
API's: the same PDs, points, grades, decisions and reasons (codes in the same order, texts),
for a tree model and a scorecard, on rows with every number of reasons from 0 to 4."""

from __future__ import annotations

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.features.reasons import MAX_REASONS, REASON_CODES
from helpers.factories import make_bundle, make_raw


@pytest.mark.parametrize("family", ["gbm", "scorecard"])
def test_score_columns_equal_score(family: str, bundle: ModelBundle) -> None:
    model = bundle if family == "gbm" else make_bundle(family=family)
    raw, _ = make_raw(3000, seed=21)
    columns, scores = model.score_columns(raw), model.score(raw)
    np.testing.assert_array_equal(columns.pd, scores.pd)
    np.testing.assert_array_equal(columns.points, scores.points)
    assert [model.policy.grades[i] for i in columns.grade_index] == scores.grades
    assert [("approve", "review", "decline")[i] for i in columns.decision_index] == scores.decisions
    codes = columns.reasons.codes
    assert codes.shape == (3000, MAX_REASONS)
    listed = [[REASON_CODES[j].code for j in row if j >= 0] for row in codes.tolist()]
    assert listed == [[r["code"] for r in reasons] for reasons in scores.reasons]
    texts = [[t for t in column if t is not None] for column in columns.reasons.texts.T]
    assert texts == [[r["text"] for r in reasons] for reasons in scores.reasons]
    counts = {len(c) for c in listed}
    assert counts >= {0, 1, 2, 3} if family == "scorecard" else counts >= {0, 1, 2, 3, 4}
    padded = codes[:, 1:] >= 0
    assert not (padded & (codes[:, :-1] < 0)).any()  # -1 only after the reasons
