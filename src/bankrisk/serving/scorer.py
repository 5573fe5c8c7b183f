"""Scores validated rows with the bundle and shapes the API's prediction objects."""

from __future__ import annotations

from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle, Scores
from bankrisk.schema import FIELD_NAMES


class Scorer:
    """The loaded champion, with what each response needs precomputed once."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self.model_ref = {"name": bundle.name, "version": bundle.version}
        fields = {f["name"]: f for f in bundle.metadata.get("input_fields", [])}
        inf = float("inf")
        self._train_min = np.array([fields.get(n, {}).get("train_min", -inf) for n in FIELD_NAMES])
        self._train_max = np.array([fields.get(n, {}).get("train_max", inf) for n in FIELD_NAMES])

    def warnings(self, rows: np.ndarray) -> list[list[str]]:
        """Values outside the range seen in training: the PD there is an extrapolation."""
        low, high = rows < self._train_min, rows > self._train_max
        out: list[list[str]] = [[] for _ in range(rows.shape[0])]
        for i, j in zip(*np.nonzero(low | high), strict=True):
            side, bound = (
                ("below", self._train_min[j]) if low[i, j] else ("above", self._train_max[j])
            )
            out[i].append(
                f"{FIELD_NAMES[j]}={rows[i, j]:g} is {side} the training range "
                f"({'min' if side == 'below' else 'max'} {bound:g})"
            )
        return out

    def predict(
        self, rows: np.ndarray, customer_ids: list[str | None]
    ) -> tuple[Scores, list[dict[str, Any]]]:
        scores = self.bundle.score(rows)
        warnings = self.warnings(rows)
        predictions = [
            {
                "customer_id": customer_ids[i],
                "probability_of_default": float(scores.pd[i]),
                "score": int(scores.points[i]),
                "risk_grade": scores.grades[i],
                "decision": scores.decisions[i],
                "reason_codes": scores.reasons[i],
                "warnings": warnings[i],
            }
            for i in range(rows.shape[0])
        ]
        return scores, predictions

    def warm_up(self, example: np.ndarray) -> None:
        """Run the whole scoring path once so the first request is not slower."""
        self.predict(example, [None] * example.shape[0])
