"""The training pipeline as pure functions: no files, no MLflow, no printing.

For each candidate family, on the development rows only:
1. K-fold cross-fitting: in each fold the model trains on the other folds (stopping early on a
   small slice of them) and predicts the held-out fold, giving out-of-fold (OOF) logits;
2. a calibrator is fitted on the OOF logits, and the decline threshold is the expected-cost
   optimum on the calibrated OOF PDs;
3. the final model is refitted on all development rows with the settings the folds found.
The champion is the candidate with the lowest OOF log loss (a proper scoring rule that rewards
both ranking and calibration). The test rows are scored only at the end, for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.predictors import Calibrator, Predictor
from bankrisk.config import Settings
from bankrisk.features.engineering import build_features
from bankrisk.features.reasons import ReasonPolicy, reason_group_matrix
from bankrisk.training.calibration import fit_calibrator
from bankrisk.training.candidates.base import Candidate, Dataset, FittedModel
from bankrisk.training.candidates.gbm import GradientBoostedTrees
from bankrisk.training.candidates.mlp import MultilayerPerceptron
from bankrisk.training.candidates.scorecard import Scorecard
from bankrisk.training.decision import cost_optimal_threshold, make_policy
from bankrisk.training.splits import cv_folds, early_stopping_split
from bankrisk.training.threads import TRAINING_THREADS

N_FOLDS = 4
EARLY_STOP_SHARE = 0.1

Progress = Callable[[str], None]


def make_candidates(settings: Settings) -> list[Candidate]:
    families: dict[str, Candidate] = {
        "scorecard": Scorecard(),
        "gbm": GradientBoostedTrees(threads=TRAINING_THREADS),  # to be settings.training_threads
        "mlp": MultilayerPerceptron(max_epochs=settings.mlp_epochs),
    }
    return [families[name] for name in settings.candidates]


@dataclass
class CandidateResult:
    """A candidate trained on all development rows, with its calibration and CV evidence."""

    name: str
    model: FittedModel
    predictor: Predictor
    calibrator: Calibrator
    threshold: float
    params: dict[str, Any]
    oof_pd: np.ndarray
    cv_metrics: dict[str, float]
    reason_policy: ReasonPolicy
    fold_params: list[dict[str, Any]] = field(default_factory=list)

    def native_pd(self, features: np.ndarray) -> np.ndarray:
        """PDs from the native library model (the reference for the bundle-equality test)."""
        return self.calibrator(self.model.logit(features))

    def bundle(self, settings: Settings, metadata: dict[str, Any]) -> ModelBundle:
        policy = make_policy(settings, self.threshold)
        return ModelBundle(
            self.predictor,
            self.calibrator,
            policy,
            metadata,
            self.reason_policy,
            settings.feature_set,
        )


def _final_hints(fold_params: list[dict[str, Any]]) -> dict[str, Any]:
    """Settings for the final refit: numeric fold settings averaged, others from fold 1."""
    hints: dict[str, Any] = {}
    for key, first in fold_params[0].items():
        values = [p[key] for p in fold_params]
        if isinstance(first, bool) or not isinstance(first, int | float):
            hints[key] = first
        elif isinstance(first, int):
            hints[key] = round(float(np.mean(values)))
        else:
            hints[key] = float(np.mean(values))
    return hints


def train_candidate(
    candidate: Candidate,
    dev: Dataset,
    settings: Settings,
    progress: Progress,
    reason_policy: ReasonPolicy,
) -> CandidateResult:
    """Cross-fit, calibrate and refit one family. Its reason contributions are centred on the
    good-risk baseline: the development rows that did not default (`reason_policy`)."""
    oof_logit = np.zeros(dev.labels.size)
    fold_params = []
    for k, (fit_idx, held_idx) in enumerate(cv_folds(dev.labels, N_FOLDS, settings.seed)):
        progress(f"{candidate.name}: fold {k + 1}/{N_FOLDS}")
        fit = dev.subset(fit_idx)
        train_idx, stop_idx = early_stopping_split(fit.labels, EARLY_STOP_SHARE, settings.seed)
        model = candidate.fit(fit.subset(train_idx), fit.subset(stop_idx), settings.seed, {})
        oof_logit[held_idx] = model.logit(dev.features[held_idx])
        fold_params.append(model.params)
    calibrator = fit_calibrator(oof_logit, dev.labels)
    oof_pd = calibrator(oof_logit)
    threshold = cost_optimal_threshold(
        oof_pd, dev.labels, settings.cost_missed_default, settings.cost_declined_good
    )
    progress(f"{candidate.name}: final fit on {dev.labels.size} rows")
    hints = _final_hints(fold_params)
    model = candidate.fit(dev, None, settings.seed, hints)
    return CandidateResult(
        name=candidate.name,
        model=model,
        predictor=model.export(
            dev.features[dev.labels == 0], reason_group_matrix(settings.feature_set)
        ),
        calibrator=calibrator,
        threshold=threshold,
        params=model.params,
        oof_pd=oof_pd,
        cv_metrics={
            "cv_roc_auc": float(roc_auc_score(dev.labels, oof_pd)),
            "cv_log_loss": float(log_loss(dev.labels, oof_pd)),
        },
        reason_policy=reason_policy,
        fold_params=fold_params,
    )


def select_champion(results: list[CandidateResult]) -> CandidateResult:
    return min(results, key=lambda r: r.cv_metrics["cv_log_loss"])


def dataset(raw: np.ndarray, labels: np.ndarray, settings: Settings) -> Dataset:
    return Dataset(build_features(raw, settings.feature_set), labels.astype(np.float64))


def train_all(
    dev_raw: np.ndarray, dev_labels: np.ndarray, settings: Settings, progress: Progress
) -> list[CandidateResult]:
    dev = dataset(dev_raw, dev_labels, settings)
    reasons = ReasonPolicy.from_development(dev_raw, dev_labels)
    return [
        train_candidate(c, dev, settings, progress, reasons) for c in make_candidates(settings)
    ]
