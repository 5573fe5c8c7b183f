"""`bankrisk evaluate`: score a labelled file with a serving bundle and compute its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.schema import FIELD_NAMES, TARGET


def evaluate_bundle(model_dir: Path, data_path: Path) -> dict[str, Any]:
    """Metrics of the bundle in `model_dir` on `data_path`, at the bundle's own threshold."""
    bundle = ModelBundle.load(model_dir)
    frame = validate_frame(load_dataset(data_path), require_target=True)
    pd = bundle.predict_pd(frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64))
    metrics = classification_metrics(frame[TARGET].to_numpy(), pd, bundle.policy.threshold)
    return {
        "model": {"name": bundle.name, "version": bundle.version},
        "data": str(data_path),
        "metrics": metrics,
    }
