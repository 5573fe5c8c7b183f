"""`bankrisk evaluate`: score a labelled file with a serving bundle and compute its metrics.

The bundle records which rows the model was developed on (`metadata["training_rows"]`: a
digest of each row's content, see `bankrisk.data.training_data`), so scoring a file that
contains them (typically the very file the model was trained on) is flagged: metrics on rows
the model has seen are optimistic. The warning says how many rows and gives the ROC AUC on the
unseen ones alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.load import load_dataset
from bankrisk.data.training_data import decode_digests, overlap, row_digests
from bankrisk.data.validate import validate_frame
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET


def training_overlap(bundle: ModelBundle, raw: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Mask of the rows the bundle's model was developed on; None if the bundle does not
    record its training rows (bundles made before it did) or records them another way."""
    record = bundle.metadata.get("training_rows")
    if not isinstance(record, dict):
        return None
    try:
        known = decode_digests(record)
    except (ValueError, KeyError):
        return None
    return overlap(row_digests(raw, labels), known)


def overlap_warning(
    seen: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> str | None:
    """The warning for evaluated rows that were used in training, or None if none were."""
    n_seen, n = int(seen.sum()), int(seen.size)
    if n_seen == 0:
        return None
    text = (
        f"{n_seen:,} of {n:,} rows ({n_seen / n:.0%}) were used to train this model; "
        "metrics on them are optimistic"
    )
    unseen = ~seen
    if n_seen == n:
        return text + " (every row was seen in training)"
    auc = classification_metrics(labels[unseen], probabilities[unseen], threshold)["roc_auc"]
    if math.isnan(auc):
        return text + f" (the {n - n_seen:,} unseen rows are all of one class)"
    return text + f" (ROC AUC on the {n - n_seen:,} unseen rows alone: {auc:.4f})"


def evaluate_bundle(
    model_dir: Path,
    data_path: Path,
    predictions_path: Path | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Metrics of the bundle in `model_dir` on `data_path` (its label the column `target`, by
    default the UCI label), at the bundle's own threshold; optionally each row's scores
    written as CSV to `predictions_path`.

    The result has `model`, `data`, `metrics`, `training_overlap` (rows of the file the model
    was trained on: `rows`, `seen_in_training`, or None if the bundle cannot tell) and
    `warnings` (messages for the user, e.g. about that overlap).
    """
    bundle = ModelBundle.load(model_dir)
    frame = validate_frame(load_dataset(data_path, target), require_target=True)
    raw = frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64)
    labels = frame[TARGET].to_numpy(dtype=np.int64)
    scores = bundle.score(raw, explain=False)
    probabilities = scores.pd  # not `pd`: that is pandas here
    threshold = bundle.policy.threshold
    metrics = classification_metrics(labels, probabilities, threshold)
    seen = training_overlap(bundle, raw, labels)
    warnings = []
    if seen is not None and (warning := overlap_warning(seen, labels, probabilities, threshold)):
        warnings.append(warning)
    if predictions_path is not None:
        rows = pd.DataFrame(
            {
                "probability_of_default": probabilities,
                "score": scores.points,
                "risk_grade": scores.grades,
                "decision": scores.decisions,
            }
        )
        if ID_COLUMN in frame:
            rows.insert(0, ID_COLUMN, frame[ID_COLUMN].to_numpy())
        if seen is not None:
            rows["seen_in_training"] = seen
        predictions_path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(predictions_path, index=False, float_format="%.17g")
    return {
        "model": {"name": bundle.name, "version": bundle.version},
        "data": str(data_path),
        "metrics": metrics,
        "training_overlap": None
        if seen is None
        else {"rows": int(seen.size), "seen_in_training": int(seen.sum())},
        "warnings": warnings,
    }
