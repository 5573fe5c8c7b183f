"""Gradient-boosted trees (LightGBM), exported node by node to `TreeEnsemblePredictor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from bankrisk.bundle.predictors import TreeEnsemblePredictor
from bankrisk.training.candidates.base import Dataset, centred

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
    "n_jobs": 2,
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

    def export(self, reference_features: np.ndarray) -> TreeEnsemblePredictor:
        return centred(booster_to_predictor(self.booster), reference_features)


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


def booster_to_predictor(booster: lgb.Booster) -> TreeEnsemblePredictor:
    """Flatten a LightGBM model into node arrays (numerical `<=` splits only)."""
    dump = booster.dump_model(num_iteration=booster.best_iteration or None)
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    roots: list[int] = []
    max_depth = 0

    def add(node: dict[str, Any], depth: int) -> int:
        nonlocal max_depth
        index = len(feature)
        feature.append(0)
        threshold.append(0.0)
        left.append(index)
        right.append(index)
        if "leaf_value" in node:
            value.append(float(node["leaf_value"]))
            max_depth = max(max_depth, depth)
            return index
        if node["decision_type"] != "<=":
            raise ValueError(f"unsupported split type {node['decision_type']!r}")
        value.append(float(node["internal_value"]))
        feature[index] = int(node["split_feature"])
        threshold[index] = float(node["threshold"])
        left[index] = add(node["left_child"], depth + 1)
        right[index] = add(node["right_child"], depth + 1)
        return index

    for tree in dump["tree_info"]:
        roots.append(add(tree["tree_structure"], 0))
    n_features = int(dump["max_feature_idx"]) + 1
    return TreeEnsemblePredictor(
        feature=np.asarray(feature, dtype=np.int32),
        threshold=np.asarray(threshold, dtype=np.float64),
        left=np.asarray(left, dtype=np.int32),
        right=np.asarray(right, dtype=np.int32),
        value=np.asarray(value, dtype=np.float64),
        roots=np.asarray(roots, dtype=np.int32),
        depth=max_depth,
        n_features=n_features,
        reference=np.zeros(n_features),
    )
