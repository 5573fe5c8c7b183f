"""Stand-ins for the bundles the promotion gate compares (tests/training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.training_data import encode_digests, row_digests
from bankrisk.evaluation.fairness import fairness_report
from bankrisk.features.engineering import DEFAULT_FEATURES, FeatureSet


class StubBundle:
    """What the gate uses of a bundle: PDs by row content, and the training-row digests."""

    def __init__(
        self,
        rows: np.ndarray,
        labels: np.ndarray,
        pd: np.ndarray,
        trained_on: Any,
        features: FeatureSet = DEFAULT_FEATURES,
    ):
        self._pd = dict(zip(row_digests(rows, labels).tolist(), pd, strict=True))
        self._labels = dict(zip(row_digests(rows, labels).tolist(), labels, strict=True))
        self.metadata: dict[str, Any] = {}
        self.feature_set = features  # the gate compares the inputs it implies
        if trained_on is not None:
            self.metadata["training_rows"] = encode_digests(row_digests(*trained_on))

    def predict_pd(self, rows: np.ndarray) -> np.ndarray:
        # The stubs only score rows they know; the label is part of the digest.
        out = []
        for row in rows:
            for label in (0, 1):
                key = int(row_digests(row[None, :], np.array([label]))[0])
                if key in self._pd:
                    out.append(self._pd[key])
                    break
            else:
                raise KeyError("unknown row")
        return np.asarray(out)


@dataclass(frozen=True)
class GateRows:
    """Labelled test rows and the PDs of a strong and a weak model of them."""

    rows: np.ndarray
    labels: np.ndarray
    strong: np.ndarray
    weak: np.ndarray

    def bundle(
        self,
        strong: bool = True,
        features: FeatureSet = DEFAULT_FEATURES,
        fairness: dict[str, Any] | None = None,
    ) -> ModelBundle:
        """A stub bundle scoring these rows, with these inputs and (if given) this fairness
        report in its metadata."""
        pd = self.strong if strong else self.weak
        stub = StubBundle(self.rows, self.labels, pd, None, features)
        if fairness is not None:
            stub.metadata["fairness"] = fairness
        return cast(ModelBundle, stub)


def gate_rows(rows: np.ndarray, labels: np.ndarray) -> GateRows:
    rng = np.random.default_rng(6)
    strong = 1 / (1 + np.exp(-(labels * 1.2 + rng.normal(size=labels.size) - 1)))
    weak = 1 / (1 + np.exp(-(labels * 0.5 + rng.normal(size=labels.size) - 1)))
    return GateRows(rows, labels, strong, weak)


def age_fairness(young_approval: float) -> dict[str, Any]:
    """A real fairness report (`evaluation.fairness`) where 35-44 are approved at 80%, 55+ at
    75% and the under-25s at `young_approval`: the AGE_BAND ratio is young_approval / 0.8.
    SEX and MARRIAGE are approved alike."""
    sizes = {22.0: 400, 40.0: 400, 60.0: 200}
    approval = {22.0: young_approval, 40.0: 0.8, 60.0: 0.75}
    ages, pds = [], []
    for age, n in sizes.items():
        approved = round(approval[age] * n)
        ages += [age] * n
        pds += [0.1] * approved + [0.9] * (n - approved)
    n = len(ages)
    labels = np.arange(n) % 5 == 0
    alternate = np.where(np.arange(n) % 2 == 0, 1, 2)
    return fairness_report(
        labels.astype(int),
        np.asarray(pds),
        0.5,
        sex=alternate,
        age=np.asarray(ages),
        marriage=alternate,
    )
