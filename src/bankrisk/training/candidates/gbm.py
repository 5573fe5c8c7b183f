"""Gradient-boosted trees (LightGBM), compiled node by node to the ONNX graph
that `OnnxTreePredictor` runs (`training.onnx_trees`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from bankrisk.bundle.predictors import OnnxTreePredictor, centred
from bankrisk.features.engineering import FeatureSet, feature_names
from bankrisk.training.candidates.base import Dataset
from bankrisk.training.onnx_trees import booster_to_onnx
from bankrisk.training.threads import TRAINING_THREADS, thread_count

# Chosen by 5-fold cross-validation on the development rows (benchmarks/model_quality.py):
# shallow trees (depth <= 5 also keeps serving fast) and a slow learning rate generalise
# best on 24k rows with these features.
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.02,
    "num_leaves": 15,
    "max_depth": 5,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "reg_lambda": 5.0,
    "verbose": -1,
}
MAX_TREES = 2000
EARLY_STOPPING_ROUNDS = 100

# Monotone constraints by meaning: the PD may only rise with a worse delinquency or a higher
# utilisation, and only fall with larger payments (relative to the bill or the limit), more
# months paid in full or longer since the last delay. With every feature that one more month
# late (or a smaller payment) moves constrained in the risky direction, "a worse repayment
# status or a lower payment ratio never lowers the PD" holds by construction (tests/model).
# Features left out are free (credit limit, education, bill size and trends).
INCREASING = (
    "pay_status_0",
    *(f"pay_status_{i}" for i in range(2, 7)),
    "months_late_count",
    "max_months_late",
    *(f"utilization_{i}" for i in range(1, 7)),
    "utilization_mean",
    "utilization_max",
    "unpaid_share_1",
    "missed_payment_count",
)
DECREASING = (
    "months_since_late",
    "paid_in_full_count",
    "no_consumption_count",
    *(f"payment_ratio_{i}" for i in range(1, 6)),
    "payment_ratio_mean",
    "log_pay_amt_1",
    "log_pay_amt_2",
    "log_pay_amt_mean",
    "payment_to_limit",
)
# Features the trees may not split on: the delay trend (September's delay minus the mean of
# the five months before) rises with a later September but falls with a later August, so no
# constraint can keep both directions monotone; the other delinquency features carry it.
UNUSED = ("late_trend",)
MONOTONE_METHOD = "advanced"


def monotone_params(n_features: int) -> dict[str, Any]:
    """LightGBM's per-feature constraints for the features of `feature_names()` (the optional
    education and age columns, appended after them when used, are free)."""
    names = feature_names()
    optional = len(feature_names(FeatureSet(use_age=True, use_education=True))) - len(names)
    if not len(names) <= n_features <= len(names) + optional:
        raise ValueError(
            f"expected {len(names)} to {len(names) + optional} features, got {n_features}"
        )
    names += ["optional"] * (n_features - len(names))
    direction = {**dict.fromkeys(INCREASING, 1), **dict.fromkeys(DECREASING, -1)}
    return {
        "monotone_constraints": [direction.get(name, 0) for name in names],
        "monotone_constraints_method": MONOTONE_METHOD,
        # A zero contribution factor zeroes the feature's split gain: it is never split on.
        "feature_contri": [0.0 if name in UNUSED else 1.0 for name in names],
    }


@dataclass
class FittedGBM:
    booster: lgb.Booster
    params: dict[str, Any] = field(default_factory=dict)

    def logit(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(features, raw_score=True))

    def export(self, reference_features: np.ndarray, groups: np.ndarray) -> OnnxTreePredictor:
        onnx_model = booster_to_onnx(self.booster, groups)
        return centred(OnnxTreePredictor(onnx_model, np.zeros(groups.shape[1])), reference_features)


class GradientBoostedTrees:
    """LightGBM with `threads` OpenMP threads (0: one per CPU; see `training.threads`)."""

    name = "gbm"

    def __init__(self, threads: int = TRAINING_THREADS) -> None:
        self.n_jobs = thread_count(threads)

    def fit(
        self, train: Dataset, early_stop: Dataset | None, seed: int, hints: dict[str, Any]
    ) -> FittedGBM:
        params = {
            **BASE_PARAMS,
            "n_jobs": self.n_jobs,
            **monotone_params(train.features.shape[1]),
            "seed": seed,
            "deterministic": True,
        }
        data = lgb.Dataset(train.features, train.labels)
        if early_stop is None:
            booster = lgb.train(params, data, num_boost_round=int(hints["n_estimators"]))
        else:
            valid = lgb.Dataset(early_stop.features, early_stop.labels, reference=data)
            booster = lgb.train(
                params,
                data,
                num_boost_round=MAX_TREES,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
        n_trees = booster.best_iteration or booster.current_iteration()
        return FittedGBM(booster, {**params, "n_estimators": n_trees})
