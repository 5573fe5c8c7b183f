"""A binned logistic scorecard: quantile bins, weight of evidence (WoE), logistic regression.

The classic credit baseline: each feature is cut into up to ten quantile bins, each bin is
replaced by its smoothed WoE, and an L2 logistic regression on the WoE values gives every bin
its logit points (coefficient x WoE). The regularisation strength is chosen on the
early-stopping rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from bankrisk.bundle.predictors import ScorecardPredictor, centred
from bankrisk.training.candidates.base import Dataset

N_BINS = 10
C_GRID = (0.01, 0.1, 1.0)
# Laplace smoothing of the bin counts keeps the WoE of sparse bins finite.
_SMOOTHING = 0.5


@dataclass
class WoEBinning:
    cuts: list[np.ndarray]
    woe: list[np.ndarray]

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray) -> WoEBinning:
        cuts, woe = [], []
        n_bad, n_good = labels.sum(), (1 - labels).sum()
        for column in features.T:
            inner = np.unique(np.quantile(column, np.linspace(0, 1, N_BINS + 1)[1:-1]))
            bins = np.searchsorted(inner, column, side="right")
            bad = np.bincount(bins, labels, minlength=len(inner) + 1) + _SMOOTHING
            good = np.bincount(bins, 1 - labels, minlength=len(inner) + 1) + _SMOOTHING
            cuts.append(inner)
            woe.append(np.log((good / n_good) / (bad / n_bad)))
        return cls(cuts, woe)

    def transform(self, features: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [
                w[np.searchsorted(c, features[:, j], side="right")]
                for j, (c, w) in enumerate(zip(self.cuts, self.woe, strict=True))
            ]
        )


@dataclass
class FittedScorecard:
    binning: WoEBinning
    model: LogisticRegression
    params: dict[str, Any] = field(default_factory=dict)

    def logit(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.decision_function(self.binning.transform(features)))

    def export(self, reference_features: np.ndarray, groups: np.ndarray) -> ScorecardPredictor:
        coef = self.model.coef_[0]
        predictor = ScorecardPredictor(
            intercept=float(self.model.intercept_[0]),
            cuts=tuple(self.binning.cuts),
            points=tuple(c * w for c, w in zip(coef, self.binning.woe, strict=True)),
            groups=groups,
            reference=np.zeros(groups.shape[1]),
        )
        return centred(predictor, reference_features)


class Scorecard:
    name = "scorecard"

    def fit(
        self, train: Dataset, early_stop: Dataset | None, seed: int, hints: dict[str, Any]
    ) -> FittedScorecard:
        binning = WoEBinning.fit(train.features, train.labels)
        woe = binning.transform(train.features)

        def fit_lr(c: float) -> LogisticRegression:
            return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(woe, train.labels)

        if early_stop is None:
            best_c = float(hints["C"])
        else:
            held_out = binning.transform(early_stop.features)
            losses = {
                c: log_loss(early_stop.labels, fit_lr(c).predict_proba(held_out)[:, 1])
                for c in C_GRID
            }
            best_c = min(losses, key=losses.__getitem__)
        return FittedScorecard(binning, fit_lr(best_c), {"C": best_c, "n_bins": N_BINS})
