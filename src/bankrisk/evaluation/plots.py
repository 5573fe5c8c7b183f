"""Evaluation plots of a PD model: ROC curve, reliability diagram and score distributions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from bankrisk.evaluation.metrics import CalibrationBins, validate_scores

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROC_FILE = "roc_curve.png"
CALIBRATION_FILE = "calibration_curve.png"
DISTRIBUTION_FILE = "score_distribution.png"
_N_BINS = 10
_DPI = 110


def save_evaluation_plots(
    y_true: np.ndarray, probabilities: np.ndarray, out_dir: Path, *, title: str
) -> list[Path]:
    """Write roc_curve.png, calibration_curve.png and score_distribution.png to `out_dir`.

    Uses matplotlib's non-interactive Agg backend and closes every figure. Returns the paths.
    """
    y, p = validate_scores(y_true, probabilities)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = (
        (ROC_FILE, _plot_roc),
        (CALIBRATION_FILE, _plot_calibration),
        (DISTRIBUTION_FILE, _plot_distribution),
    )
    paths: list[Path] = []
    for file_name, draw in writers:
        fig = plt.figure(figsize=(6.4, 5.6))
        try:
            draw(fig, y, p, title)
            path = out_dir / file_name
            fig.savefig(path, dpi=_DPI, format="png", bbox_inches="tight")
            paths.append(path)
        finally:
            plt.close(fig)
    return paths


def _plot_roc(fig: Figure, y: np.ndarray, p: np.ndarray, title: str) -> None:
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Chance (AUC = 0.5)")
    if 0 < int(y.sum()) < y.shape[0]:
        fpr, tpr, _ = roc_curve(y, p)
        auc = float(roc_auc_score(y, p))
        ax.plot(fpr, tpr, color="tab:blue", lw=2, label=f"Model (AUC = {auc:.4f})")
    else:
        ax.text(0.5, 0.5, "ROC undefined: only one class", ha="center", va="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("False positive rate (goods declined)")
    ax.set_ylabel("True positive rate (defaulters declined)")
    ax.set_title(f"ROC curve: {title}")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)


def _plot_calibration(fig: Figure, y: np.ndarray, p: np.ndarray, title: str) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    bins = CalibrationBins.of(y, p, _N_BINS)  # the same bins as the ECE in the metrics
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Perfectly calibrated")
    top.plot(bins.mean_pd, bins.default_rate, marker="o", color="tab:blue", label="Model")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("Observed default rate")
    ece = bins.expected_calibration_error()
    top.set_title(f"Calibration ({_N_BINS} bins, ECE {ece:.4f}): {title}")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.bar(
        bins.edges[:-1],
        bins.counts,
        width=1.0 / _N_BINS,
        align="edge",
        color="tab:gray",
        edgecolor="white",
    )
    bottom.set_xlabel("Predicted PD")
    bottom.set_ylabel("Rows")


def _plot_distribution(fig: Figure, y: np.ndarray, p: np.ndarray, title: str) -> None:
    ax = fig.add_subplot(1, 1, 1)
    edges = [i / 40 for i in range(41)]
    for label, name, color in ((0, "Non-defaulters", "tab:green"), (1, "Defaulters", "tab:red")):
        scores = p[y == label]
        if scores.size:
            ax.hist(
                scores,
                bins=edges,
                density=True,
                alpha=0.5,
                color=color,
                label=f"{name} (n = {scores.size})",
            )
    ax.set_xlim(0, 1)
    ax.set_xlabel("Predicted PD")
    ax.set_ylabel("Density")
    ax.set_title(f"PD distribution: {title}")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
