"""Fit a calibrator on held-out (out-of-fold) logits so that a PD of 0.2 means 20%."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from bankrisk.bundle.predictors import Calibrator


def fit_calibrator(logit: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Platt scaling: two parameters, keeps the ranking, and is stable on the few thousand
    out-of-fold rows each candidate has."""
    # A very weak penalty: this is plain maximum likelihood on one input.
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit[:, None], labels)
    return Calibrator(slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
