"""Gradient-boosted trees (LightGBM), exported node by node to `TreeEnsemblePredictor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from bankrisk.bundle.predictors import OnnxTreePredictor
from bankrisk.training.candidates.base import Dataset, centred
from bankrisk.training.onnx_trees import booster_to_onnx

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
    "n_jobs": 1,  # OpenMP threads spin-wait: on 2 shared cores one thread is faster
    "verbose": -1,
}
MAX_TREES = 2000
EARLY_STOPPING_ROUNDS = 100


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
    name = "gbm"

    def fit(
        self, train: Dataset, early_stop: Dataset | None, seed: int, hints: dict[str, Any]
    ) -> FittedGBM:
        params = {**BASE_PARAMS, "seed": seed, "deterministic": True}
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
            booster = booster  # best_iteration is used by predict and dump below
        n_trees = booster.best_iteration or booster.current_iteration()
        return FittedGBM(booster, {**params, "n_estimators": n_trees})
