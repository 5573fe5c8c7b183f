"""Fit a calibrator on held-out (out-of-fold) logits so that a PD of 0.2 means 20%."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from bankrisk.bundle.predictors import Calibrator

CalibrationMethod = Literal["platt", "isotonic"]


def fit_calibrator(logit: np.ndarray, labels: np.ndarray, method: CalibrationMethod) -> Calibrator:
    """Platt scaling (two parameters, keeps the ranking) or isotonic regression."""
    if method == "platt":
        # A very weak penalty: this is plain maximum likelihood on one input.
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit[:, None], labels)
        params = np.array([lr.coef_[0, 0], lr.intercept_[0]])
        return Calibrator("platt", params, np.zeros(0))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(logit, labels)
    return Calibrator("isotonic", iso.X_thresholds_.copy(), iso.y_thresholds_.copy())
