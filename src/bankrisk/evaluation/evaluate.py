"""`bankrisk evaluate`: score a labelled file with a serving bundle and compute its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET


def evaluate_bundle(
    model_dir: Path, data_path: Path, predictions_path: Path | None = None
) -> dict[str, Any]:
    """Metrics of the bundle in `model_dir` on `data_path`, at the bundle's own threshold;
    optionally each row's scores written as CSV to `predictions_path`."""
    bundle = ModelBundle.load(model_dir)
    frame = validate_frame(load_dataset(data_path), require_target=True)
    scores = bundle.score(frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64), explain=False)
    metrics = classification_metrics(frame[TARGET].to_numpy(), scores.pd, bundle.policy.threshold)
    if predictions_path is not None:
        rows = pd.DataFrame(
            {
                "probability_of_default": scores.pd,
                "score": scores.points,
                "risk_grade": scores.grades,
                "decision": scores.decisions,
            }
        )
        if ID_COLUMN in frame:
            rows.insert(0, ID_COLUMN, frame[ID_COLUMN].to_numpy())
        predictions_path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(predictions_path, index=False, float_format="%.17g")
    return {
        "model": {"name": bundle.name, "version": bundle.version},
        "data": str(data_path),
        "metrics": metrics,
    }
