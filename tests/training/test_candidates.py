"""Every candidate family's numpy export scores exactly like the native library model."""

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from bankrisk.features.engineering import DEFAULT_FEATURES, build_features, feature_names
from bankrisk.features.reasons import reason_group_matrix
from bankrisk.schema import FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS
from bankrisk.training.candidates.base import Candidate, Dataset
from bankrisk.training.candidates.gbm import (
    DECREASING,
    INCREASING,
    UNUSED,
    GradientBoostedTrees,
    monotone_params,
)
from bankrisk.training.candidates.mlp import MultilayerPerceptron
from bankrisk.training.candidates.scorecard import Scorecard
from helpers.factories import make_raw


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Dataset, Dataset]:
    raw, labels = make_raw(4000, seed=1)
    full = Dataset(build_features(raw), labels.astype(float))
    idx = np.arange(4000)
    return full.subset(idx[:3000]), full.subset(idx[3000:3400]), full.subset(idx[3400:])


GROUPS = reason_group_matrix(DEFAULT_FEATURES)
CANDIDATES: list[Candidate] = [Scorecard(), GradientBoostedTrees(), MultilayerPerceptron(5)]


@pytest.mark.parametrize("candidate", CANDIDATES, ids=lambda c: c.name)
def test_export_equals_native(candidate: Candidate, data: tuple[Dataset, Dataset, Dataset]) -> None:
    train, stop, test = data
    model = candidate.fit(train, stop, seed=7, hints={})
    predictor = model.export(train.features, GROUPS)
    native, exported = model.logit(test.features), predictor.logit(test.features)
    # Keras runs in float32 and the ONNX trees output float32; numpy runs in float64.
    np.testing.assert_allclose(exported, native, atol=1e-5)
    logit, by_group = predictor.explain(test.features)
    np.testing.assert_array_equal(logit, exported)
    assert by_group.shape == (test.features.shape[0], GROUPS.shape[1])
    # Centred on the training population: mean contribution there is ~0.
    np.testing.assert_allclose(predictor.explain(train.features)[1].mean(axis=0), 0, atol=1e-6)
    restored = type(predictor).from_arrays(predictor.to_arrays())  # type: ignore[attr-defined]
    np.testing.assert_array_equal(restored.logit(test.features), exported)


@pytest.mark.parametrize("candidate", CANDIDATES, ids=lambda c: c.name)
def test_fit_is_reproducible_and_honours_hints(
    candidate: Candidate, data: tuple[Dataset, Dataset, Dataset]
) -> None:
    train, stop, test = data
    first = candidate.fit(train, stop, seed=3, hints={})
    second = candidate.fit(train, stop, seed=3, hints={})
    np.testing.assert_allclose(first.logit(test.features), second.logit(test.features), atol=1e-6)
    hints: dict[str, Any] = first.params
    refit = candidate.fit(train, None, seed=3, hints=hints)
    assert refit.params == first.params


def test_tree_contributions_add_up_to_the_logit(data: tuple[Dataset, Dataset, Dataset]) -> None:
    """Saabas: root values plus every split's change in value along the path = the leaf."""
    train, stop, test = data
    model = GradientBoostedTrees().fit(train, stop, seed=0, hints={})
    predictor = model.export(train.features, GROUPS)
    roots = model.booster.dump_model()["tree_info"]
    bias = sum(t["tree_structure"].get("internal_value", 0.0) for t in roots)
    logit, by_group = predictor.explain(test.features)
    np.testing.assert_allclose(
        by_group.sum(axis=1) + predictor.reference.sum() + bias, logit, atol=1e-5
    )


def test_gbm_constraints_follow_the_feature_layout() -> None:
    names = feature_names()
    params = monotone_params(len(names))
    direction = dict(zip(names, params["monotone_constraints"], strict=True))
    assert direction["pay_status_0"] == direction["utilization_max"] == 1
    assert direction["payment_ratio_1"] == direction["months_since_late"] == -1
    assert direction["log_limit_bal"] == 0 and "education" not in direction
    assert set(INCREASING) | set(DECREASING) | set(UNUSED) <= set(names)
    assert not set(INCREASING) & set(DECREASING)
    contribution = dict(zip(names, params["feature_contri"], strict=True))
    assert [n for n, c in contribution.items() if c == 0] == list(UNUSED)
    # The optional EDUCATION and AGE columns, appended when used, are free.
    with_both = monotone_params(len(names) + 2)
    assert with_both["monotone_constraints"][-2:] == [0, 0]
    assert with_both["feature_contri"][-2:] == [1, 1]
    with pytest.raises(ValueError, match="features"):
        monotone_params(len(names) + 3)


def test_gbm_is_monotone_in_delinquency_and_payments(
    data: tuple[Dataset, Dataset, Dataset],
) -> None:
    train, stop, _ = data
    model = GradientBoostedTrees().fit(train, stop, seed=7, hints={})
    raw, _ = make_raw(1000, seed=8)
    base = model.logit(build_features(raw))
    column = {name: j for j, name in enumerate(FIELD_NAMES)}
    for field in (*PAY_STATUS, *PAY_AMOUNTS[:5]):
        worse = raw.copy()
        j = column[field]
        worse[:, j] = np.minimum(np.maximum(raw[:, j], 0) + 1, 8) if field in PAY_STATUS else 0
        assert np.all(model.logit(build_features(worse)) >= base), field
    assert model.booster.feature_importance("split")[feature_names().index("late_trend")] == 0


def test_keras_loads_without_tensorflow_s_start_up_lines() -> None:
    """TensorFlow's libraries write "oneDNN custom operations are on" to the process's stderr
    as they load, whatever TF_CPP_MIN_LOG_LEVEL says; `bankrisk train` must not show it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    load = "from bankrisk.training.candidates.mlp import _keras; _keras()"
    done = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
