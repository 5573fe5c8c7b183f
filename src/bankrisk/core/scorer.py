"""The scoring core, free of any web framework: validated customers in, predictions out.

`predict` scores a matrix of rows (batches, and single customers that arrive together);
`predict_one` is the fast path for one customer, in plain Python around one model call.
Both give the same answers (tests/core/test_scorer.py). Values outside the range seen in
training are answered with a warning each: the PD there is an extrapolation.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import NotRequired, TypedDict

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.features.reasons import Reason
from bankrisk.schema import FIELD_NAMES

# Rows: one customer's 23 validated inputs (FIELD_NAMES order) per row, as a numpy array or
# as lists of floats.
Rows = np.ndarray | Sequence[Sequence[float]]


class ModelRef(TypedDict):
    """Which model answered: `role` is champion, canary or shadow (serving/challenger.py)."""

    name: str
    version: str
    role: str


class Prediction(TypedDict):
    """One customer's answer, as the API returns it (a batch entry)."""

    customer_id: str | None
    probability_of_default: float
    score: int
    risk_grade: str
    decision: str
    reason_codes: list[Reason]
    warnings: list[str]
    model: NotRequired[ModelRef]  # in a batch with a canary: who answered this customer


class Scorer:
    """The loaded champion, with what each response needs precomputed once."""

    def __init__(self, bundle: ModelBundle, role: str = "champion") -> None:
        self.bundle = bundle
        self.model_ref: ModelRef = {"name": bundle.name, "version": bundle.version, "role": role}
        fields = {f["name"]: f for f in bundle.metadata.get("input_fields", [])}
        inf = float("inf")
        self._train_min_list = [
            float(fields.get(n, {}).get("train_min", -inf)) for n in FIELD_NAMES
        ]
        self._train_max_list = [float(fields.get(n, {}).get("train_max", inf)) for n in FIELD_NAMES]
        self._train_min = np.array(self._train_min_list)
        self._train_max = np.array(self._train_max_list)

    @staticmethod
    def _warning(j: int, value: float, side: str, bound: float) -> str:
        return (
            f"{FIELD_NAMES[j]}={value:g} is {side} the training range "
            f"({'min' if side == 'below' else 'max'} {bound:g})"
        )

    def outside_training_range(self, rows: np.ndarray) -> np.ndarray:
        """Which rows have a value outside the range seen in training (they get warnings)."""
        flagged: np.ndarray = np.any((rows < self._train_min) | (rows > self._train_max), axis=1)
        return flagged

    def warnings(self, rows: np.ndarray) -> list[list[str]]:
        """Values outside the range seen in training: the PD there is an extrapolation."""
        low, high = rows < self._train_min, rows > self._train_max
        out: list[list[str]] = [[] for _ in range(rows.shape[0])]
        for i, j in zip(*np.nonzero(low | high), strict=True):
            if low[i, j]:
                out[i].append(self._warning(j, rows[i, j], "below", self._train_min[j]))
            else:
                out[i].append(self._warning(j, rows[i, j], "above", self._train_max[j]))
        return out

    def warnings_one(self, values: Sequence[float]) -> list[str]:
        """`warnings` of one row, in plain Python."""
        # The common case, every value in range, in two C-level passes.
        if all(map(operator.le, self._train_min_list, values)) and all(
            map(operator.le, values, self._train_max_list)
        ):
            return []
        out = []
        for j, (value, low, high) in enumerate(
            zip(values, self._train_min_list, self._train_max_list, strict=True)
        ):
            if value < low:
                out.append(self._warning(j, value, "below", low))
            elif value > high:
                out.append(self._warning(j, value, "above", high))
        return out

    def predict(self, rows: np.ndarray, customer_ids: Sequence[str | None]) -> list[Prediction]:
        """Predictions for validated rows (n, 23) in FIELD_NAMES order, aligned by row."""
        scores = self.bundle.score(rows)
        warnings = self.warnings(rows)
        probabilities: list[float] = scores.pd.tolist()
        points: list[int] = scores.points.astype(np.int64).tolist()
        return [
            {
                "customer_id": customer_ids[i],
                "probability_of_default": probabilities[i],
                "score": points[i],
                "risk_grade": scores.grades[i],
                "decision": scores.decisions[i],
                "reason_codes": scores.reasons[i],
                "warnings": warnings[i],
            }
            for i in range(rows.shape[0])
        ]

    def predict_one(self, values: list[float], customer_id: str | None) -> Prediction:
        """The prediction for one validated row (23 floats in FIELD_NAMES order)."""
        row = self.bundle.score_row(values)
        return {
            "customer_id": customer_id,
            "probability_of_default": row.probability,
            "score": row.points,
            "risk_grade": row.grade,
            "decision": row.decision,
            "reason_codes": row.reasons,
            "warnings": self.warnings_one(values),
        }

    def warm_up(self, example: np.ndarray) -> None:
        """Run both scoring paths once so that the first request is not slower."""
        self.predict(example, [None] * example.shape[0])
        self.predict_one(example[0].tolist(), None)
