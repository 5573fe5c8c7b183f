"""Every candidate family's numpy export scores exactly like the native library model."""

from typing import Any

import numpy as np
import pytest

from bankrisk.features.engineering import build_features, reason_group_matrix
from bankrisk.training.candidates.base import Candidate, Dataset
from bankrisk.training.candidates.gbm import GradientBoostedTrees
from bankrisk.training.candidates.mlp import MultilayerPerceptron
from bankrisk.training.candidates.scorecard import Scorecard
from factories import make_raw


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Dataset, Dataset]:
    raw, labels = make_raw(4000, seed=1)
    full = Dataset(build_features(raw), labels.astype(float))
    idx = np.arange(4000)
    return full.subset(idx[:3000]), full.subset(idx[3000:3400]), full.subset(idx[3400:])


GROUPS = reason_group_matrix()
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
