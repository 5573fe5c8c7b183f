"""Scores of valid rows as output columns: the one mapping used by the local and Spark scorers.

The values are the API's for the same customer (the same model call, policy, reason selection
and texts as `ModelBundle.score`): the PD, points, grade, decision, up to four reasons, each
as its code, feature list, attribute, value, text and contribution (so that an adverse-action
notice can be produced from a portfolio run), and the out-of-training-range warnings. The
reasons are made as columns (`reasons.stated_columns`), never as a dict per reason.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bankrisk.bundle.model_bundle import MAX_REASONS, ModelBundle
from bankrisk.bundle.policy import DECISIONS
from bankrisk.core.scorer import Scorer
from bankrisk.features.reasons import REASON_CODES, StatedColumns
from bankrisk.features.reasons.catalogue import N_ATTRIBUTES

# Each reason's columns, `reason_{k}_{part}`: the API's reason fields but the group (implied
# by the code), in the API's order.
REASON_PARTS: tuple[str, ...] = ("code", "feature", "attribute", "value", "text", "contribution")
SCORE_COLUMNS: tuple[str, ...] = (
    "probability_of_default",
    "score",
    "risk_grade",
    "decision",
    *(f"reason_{k}_{part}" for k in range(1, MAX_REASONS + 1) for part in REASON_PARTS),
    "warnings",
)
_FLOATS = {"probability_of_default"} | {
    f"reason_{k}_contribution" for k in range(1, MAX_REASONS + 1)
}
_CODES = pa.array([r.code for r in REASON_CODES])
_FEATURES = pa.array([r.feature for r in REASON_CODES])
# Attribute keys by code * N_ATTRIBUTES + attribute index (padded with "").
_ATTRIBUTES = pa.array(
    [
        r.attributes[a].key if a < len(r.attributes) else ""
        for r in REASON_CODES
        for a in range(N_ATTRIBUTES)
    ]
)
_DECISIONS = pa.array(DECISIONS)


def output_schema(id_column: str | None) -> pa.Schema:
    """The output's columns: the input's id column (text) if it has one, then SCORE_COLUMNS."""
    fields = [
        pa.field(
            name,
            pa.float64() if name in _FLOATS else pa.int64() if name == "score" else pa.string(),
        )
        for name in SCORE_COLUMNS
    ]
    if id_column is not None:
        fields.insert(0, pa.field(id_column, pa.string()))
    return pa.schema(fields)


def _labels(index: np.ndarray, labels: pa.Array) -> pa.Array:
    """`labels[index]` as text, null where index is negative (no reason)."""
    mask = index < 0
    indices = pa.array(np.where(mask, 0, index).astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, labels).cast(pa.string())


def _reason_columns(stated: StatedColumns) -> list[pa.Array]:
    """The reason columns of SCORE_COLUMNS, in order, null where a row has fewer reasons."""
    columns: list[pa.Array] = []
    for k in range(MAX_REASONS):
        codes = stated.codes[:, k]
        contributions = stated.contributions[:, k]
        columns += [
            _labels(codes, _CODES),
            _labels(codes, _FEATURES),
            _labels(np.where(codes < 0, -1, codes * N_ATTRIBUTES + stated.attributes[:, k]),
                    _ATTRIBUTES),
            pa.array(stated.values[k], type=pa.string()),
            pa.array(stated.texts[k], type=pa.string()),
            pa.array(contributions, type=pa.float64(), mask=np.isnan(contributions)),
        ]  # fmt: skip
    return columns


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
            *_reason_columns(scores.reasons),
            self.warnings(raw),
        ]
        if id_column is not None:
            assert ids is not None
            columns.insert(0, ids)
        return pa.Table.from_arrays(columns, schema=output_schema(id_column))
