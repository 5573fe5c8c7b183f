"""Scores of valid rows as output columns: the one mapping used by the local and Spark scorers.

The values are the API's for the same customer (`ModelBundle.score_columns`, the same model
call, policy and reason selection as `ModelBundle.score`): the PD, points, grade, decision,
up to four reasons as code and feature (no texts), and the out-of-training-range warnings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bankrisk.bundle.model_bundle import MAX_REASONS, ModelBundle
from bankrisk.bundle.policy import DECISIONS
from bankrisk.core.scorer import Scorer
from bankrisk.features.reasons import REASON_CODES

SCORE_COLUMNS: tuple[str, ...] = (
    "probability_of_default",
    "score",
    "risk_grade",
    "decision",
    *(f"reason_{k}_{part}" for k in range(1, MAX_REASONS + 1) for part in ("code", "feature")),
    "warnings",
)
_CODES = pa.array([r.code for r in REASON_CODES])
_FEATURES = pa.array([r.feature for r in REASON_CODES])
_DECISIONS = pa.array(DECISIONS)


def output_schema(id_column: str | None) -> pa.Schema:
    """The output's columns: the input's id column (text) if it has one, then SCORE_COLUMNS."""
    types = {"probability_of_default": pa.float64(), "score": pa.int64()}
    fields = [pa.field(name, types.get(name, pa.string())) for name in SCORE_COLUMNS]
    if id_column is not None:
        fields.insert(0, pa.field(id_column, pa.string()))
    return pa.schema(fields)


def _labels(index: np.ndarray, labels: pa.Array) -> pa.Array:
    """`labels[index]` as text, null where index is -1 (no reason)."""
    mask = index < 0
    indices = pa.array(np.where(mask, 0, index).astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, labels).cast(pa.string())


class ChunkScorer:
    """A bundle and what scoring a chunk needs, prepared once (per process or executor)."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self.scorer = Scorer(bundle)
        self.grades = pa.array(bundle.policy.grades)

    def warnings(self, raw: np.ndarray) -> pa.Array:
        """The API's warnings (values outside the training range), "; "-joined, else null.
        Only the few rows with such a value go through the API's per-row formatting."""
        scorer = self.scorer
        outside = np.flatnonzero(scorer.outside_training_range(raw))
        texts: list[str | None] = [None] * raw.shape[0]
        for i, found in zip(outside.tolist(), scorer.warnings(raw[outside]), strict=True):
            texts[i] = "; ".join(found)
        return pa.array(texts, type=pa.string())

    def table(self, raw: np.ndarray, ids: pa.Array | None, id_column: str | None) -> pa.Table:
        """Output rows for valid raw rows (n, 23) in FIELD_NAMES order and their ids."""
        scores = self.bundle.score_columns(raw)
        columns: list[pa.Array] = [
            pa.array(scores.pd, type=pa.float64()),
            pa.array(scores.points.astype(np.int64)),
            _labels(scores.grade_index, self.grades),
            _labels(scores.decision_index, _DECISIONS),
        ]
        for k in range(MAX_REASONS):
            columns += [
                _labels(scores.reasons[:, k], _CODES),
                _labels(scores.reasons[:, k], _FEATURES),
            ]
        columns.append(self.warnings(raw))
        if id_column is not None:
            assert ids is not None
            columns.insert(0, ids)
        return pa.Table.from_arrays(columns, schema=output_schema(id_column))
