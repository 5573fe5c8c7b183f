"""Discrimination, calibration and decision metrics of a probability-of-default (PD) model.

All functions take the true labels (0 = paid, 1 = defaulted) and the predicted PDs as 1-D
arrays and return plain Python floats, so that results can be logged or written as JSON.
Ranking metrics and the log loss follow scikit-learn's definitions (checked against it in the
tests) without its copies; the calibration binning (`CalibrationBins`) is the one
implementation behind both the ECE and the reliability diagram in `plots`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Keys of `classification_metrics`, in the order they are returned.
METRIC_KEYS: tuple[str, ...] = (
    "roc_auc",
    "gini",
    "ks",
    "brier",
    "log_loss",
    "ece",
    "pr_auc",
    "threshold",
    "tn",
    "fp",
    "fn",
    "tp",
    "approval_rate",
    "default_rate",
    "n",
)


def validate_scores(y_true: object, probabilities: object) -> tuple[np.ndarray, np.ndarray]:
    """Check labels and PDs and return them as 1-D int8 and float64 arrays (the inputs
    themselves when they are already of those types: no copies of a large window).

    Raises ValueError if they are not 1-D, differ in length, are empty, if a PD is not a finite
    number in [0, 1], or if a label is not 0 or 1.
    """
    y = np.asarray(y_true)
    p = np.asarray(probabilities)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and PDs must be 1-D arrays, got shapes {y.shape} and {p.shape}")
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and PDs must have the same length, got {y.shape[0]} and {p.shape[0]}"
        )
    if y.shape[0] == 0:
        raise ValueError("y_true and PDs are empty: need at least one row")
    try:
        p = p.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"PDs must be numeric: {exc}") from exc
    if not np.all(np.isfinite(p)):
        raise ValueError(f"PDs contain {int(np.sum(~np.isfinite(p)))} NaN or infinite value(s)")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"PDs must lie in [0, 1], got values from {p.min():.6g} to {p.max():.6g}")
    try:
        labels = y if y.dtype.kind in "biu" else y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y_true must contain only 0 and 1: {exc}") from exc
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        examples = sorted({str(v) for v in y[bad][:5].tolist()})
        raise ValueError(
            f"y_true must contain only 0 and 1, found {int(bad.sum())} other value(s), "
            f"e.g. {', '.join(examples)}"
        )
    return labels.astype(np.int8, copy=False), p


def check_threshold(threshold: float) -> float:
    """The threshold as a float; ValueError unless it is a finite number in [0, 1]."""
    value = float(threshold)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """`value` itself; ValueError unless it is an int >= 1 (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def both_classes(y: np.ndarray) -> bool:
    """True if the 0/1 labels `y` hold both a 0 and a 1 (AUC-type metrics are defined)."""
    return bool(0 < int(y.sum()) < y.shape[0])


@dataclass(frozen=True)
class CalibrationBins:
    """PDs grouped into `n_bins` equal-width bins on [0, 1] (a PD of exactly 1 falls in the
    last bin). Arrays have one entry per bin; empty bins have a count of 0."""

    edges: np.ndarray
    counts: np.ndarray
    sum_pd: np.ndarray
    sum_defaults: np.ndarray

    @classmethod
    def of(cls, y_true: object, probabilities: object, n_bins: int = 10) -> CalibrationBins:
        check_positive_int(n_bins, "n_bins")
        y, p = validate_scores(y_true, probabilities)
        counts = np.zeros(n_bins, dtype=np.int64)
        sum_pd = np.zeros(n_bins)
        sum_defaults = np.zeros(n_bins)
        for part in _blocks(p.shape[0]):
            bins = np.minimum((p[part] * n_bins).astype(np.int64), n_bins - 1)
            counts += np.bincount(bins, minlength=n_bins)
            sum_pd += np.bincount(bins, weights=p[part], minlength=n_bins)
            sum_defaults += np.bincount(bins[y[part] == 1], minlength=n_bins)
        return cls(np.linspace(0.0, 1.0, n_bins + 1), counts, sum_pd, sum_defaults)

    @property
    def used(self) -> np.ndarray:
        """Mask of the non-empty bins."""
        return np.asarray(self.counts > 0)

    @property
    def mean_pd(self) -> np.ndarray:
        """Mean PD of each non-empty bin."""
        return np.asarray(self.sum_pd[self.used] / self.counts[self.used])

    @property
    def default_rate(self) -> np.ndarray:
        """Observed default rate of each non-empty bin."""
        return np.asarray(self.sum_defaults[self.used] / self.counts[self.used])

    def expected_calibration_error(self) -> float:
        """Mean |mean PD - default rate| over the non-empty bins, weighted by their rows."""
        weights = self.counts[self.used] / self.counts.sum()
        return float(np.sum(np.abs(self.mean_pd - self.default_rate) * weights))


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 10
) -> float:
    """Weighted mean |mean(PD) - default rate| over `n_bins` equal-width bins on [0, 1].

    Each non-empty bin is weighted by its share of rows; a PD of exactly 1 falls in the last bin.
    """
    return CalibrationBins.of(y_true, probabilities, n_bins).expected_calibration_error()


@dataclass(frozen=True)
class RankingMetrics:
    """ROC AUC, average precision (PR AUC) and the KS statistic: scikit-learn's definitions,
    computed from one sort of the PDs (NaN when only one class is present)."""

    roc_auc: float
    pr_auc: float
    ks: float


def ranking_metrics(y: np.ndarray, p: np.ndarray, *, sort_in_place: bool = False) -> RankingMetrics:
    """The curves of scikit-learn's `roc_curve` and `precision_recall_curve`, built once.

    At each distinct PD from the highest down, the defaults (true positives) and non-defaults
    (false positives) at or above it. ROC AUC is the trapezoid area under (FPR, TPR), average
    precision the sum of precision times each step in recall, KS the largest |TPR - FPR|.
    Counted with two sorts and binary searches (the PDs, and the defaulters' PDs), not by
    ordering the labels: no index array of every row, which the monitoring of tens of
    millions of customers cannot afford. `sort_in_place` sorts `p` itself (the caller's last
    use of it in its order) instead of a copy."""
    if not both_classes(y):
        return RankingMetrics(math.nan, math.nan, math.nan)
    defaults = np.sort(p[y == 1])
    if sort_in_place:  # the caller's array, no longer needed in its order
        p.sort()
    ascending = p if sort_in_place else np.sort(p)
    distinct = ascending[np.r_[0, np.flatnonzero(ascending[1:] != ascending[:-1]) + 1]]
    at_or_above = ascending.shape[0] - np.searchsorted(ascending, distinct[::-1], side="left")
    del ascending
    tps = (defaults.shape[0] - np.searchsorted(defaults, distinct[::-1], side="left")).astype(
        np.float64
    )
    fps = at_or_above - tps
    positives, negatives = tps[-1], fps[-1]
    tpr, fpr = tps / positives, fps / negatives
    roc_auc = float(np.sum(np.diff(fpr, prepend=0.0) * (tpr + np.r_[0.0, tpr[:-1]]) / 2.0))
    ks = float(np.max(np.abs(tpr - fpr)))
    precision = tps / (tps + fps)
    pr_auc = float(np.sum(np.diff(tpr, prepend=0.0) * precision))
    return RankingMetrics(roc_auc, pr_auc, ks)


def ks_statistic(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the PD CDFs of bads and goods.

    Read off the ROC curve: at each threshold, TPR - FPR is F_good - F_bad just below it, so
    the two-sample KS statistic is max |TPR - FPR| (max(TPR - FPR) for a model that ranks
    bads above goods). NaN if only one class is present.
    """
    y, p = validate_scores(y_true, probabilities)
    return ranking_metrics(y, p).ks


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood, PDs clipped to [eps, 1 - eps] (float64's eps, as
    scikit-learn does): a confident miss is finite."""
    eps = float(np.finfo(np.float64).eps)
    total = 0.0
    for part in _blocks(p.shape[0]):
        chosen = np.where(y[part] == 1, p[part], 1.0 - p[part])  # what happened's probability
        total += float(np.sum(np.log(np.clip(chosen, eps, 1.0 - eps))))
    return -total / int(p.shape[0])


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between PD and outcome."""
    total = sum(float(np.sum((p[part] - y[part]) ** 2)) for part in _blocks(p.shape[0]))
    return total / int(p.shape[0])


def _blocks(n: int, size: int = 1 << 20) -> list[slice]:
    """Slices of a million rows: element-wise sums over a window of tens of millions hold
    a block's temporaries, not the window's."""
    return [slice(begin, min(begin + size, n)) for begin in range(0, n, size)]


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, threshold: float, *, sort_in_place: bool = False
) -> dict[str, float]:
    """All evaluation metrics of PDs against labels; a row is declined when its PD >= threshold.

    Keys: roc_auc, gini, ks, brier, log_loss, ece, pr_auc, threshold, tn, fp, fn, tp,
    approval_rate, default_rate, n. AUC-type metrics (roc_auc, gini, ks, pr_auc) are NaN when
    only one class is present.
    """
    y, p = validate_scores(y_true, probabilities)
    cut = check_threshold(threshold)
    n = y.shape[0]
    declined = p >= cut
    positive = y == 1
    brier, loss = brier_score(y, p), log_loss(y, p)
    ece = CalibrationBins.of(y, p).expected_calibration_error()
    ranking = ranking_metrics(y, p, sort_in_place=sort_in_place)  # last: may reorder p
    return {
        "roc_auc": ranking.roc_auc,
        "gini": 2.0 * ranking.roc_auc - 1.0,
        "ks": ranking.ks,
        "brier": brier,
        "log_loss": loss,
        "ece": ece,
        "pr_auc": ranking.pr_auc,
        "threshold": cut,
        "tn": float(np.sum(~declined & ~positive)),
        "fp": float(np.sum(declined & ~positive)),
        "fn": float(np.sum(~declined & positive)),
        "tp": float(np.sum(declined & positive)),
        "approval_rate": float(np.mean(~declined)),
        "default_rate": float(np.mean(y)),
        "n": float(n),
    }
