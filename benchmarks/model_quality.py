"""Model-quality benchmark: the whole training pipeline in 5-fold stratified cross-validation.

Each outer fold is a test split the pipeline never sees: candidates are cross-fitted,
calibrated and selected on the other four folds exactly as `bankrisk train` does, and the
champion's exported bundle scores the fold. Prints per-fold and mean figures.

    make benchmark-quality DATA=../shared/data/default_of_credit_card_clients.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bankrisk.config import Settings
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.training.assessment import read_training_data
from bankrisk.training.pipeline import select_champion, train_all

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared/data/default_of_credit_card_clients.csv"
)
KEYS = ("roc_auc", "brier", "ece", "log_loss", "ks", "pr_auc")
BARS = {"roc_auc": (">=", 0.785), "brier": ("<=", 0.135), "ece": ("<=", 0.015)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    data = read_training_data(args.data)
    outer = StratifiedKFold(args.folds, shuffle=True, random_state=settings.seed)
    rows: dict[str, list[dict[str, float]]] = {}
    start = time.monotonic()
    for k, (dev, test) in enumerate(outer.split(data.raw, data.labels)):
        results = train_all(data.raw[dev], data.labels[dev], settings, lambda _msg: None)
        champion = select_champion(results)
        for result in results:
            pd = result.bundle(settings, {}).predict_pd(data.raw[test])
            metrics = classification_metrics(data.labels[test], pd, result.threshold)
            rows.setdefault(result.name, []).append(metrics)
            if result is champion:
                rows.setdefault("champion", []).append(metrics)
        print(
            f"fold {k + 1}/{args.folds} ({time.monotonic() - start:.0f}s): champion="
            f"{champion.name} " + " ".join(f"{m}={rows['champion'][-1][m]:.4f}" for m in KEYS),
            flush=True,
        )
    print(
        f"\n{args.folds}-fold CV on {data.labels.size} rows, {settings.candidates}, "
        f"use_age={settings.use_age} (SEX and MARRIAGE never used)"
    )
    print(f"{'model':<10}" + "".join(f"{m:>16}" for m in KEYS))
    for name, folds in rows.items():
        cells = "".join(
            f"{np.mean([f[m] for f in folds]):>9.4f} ±{np.std([f[m] for f in folds]):.3f}"
            for m in KEYS
        )
        print(f"{name:<10}{cells}")
    print()
    for metric, (op, bar) in BARS.items():
        value = float(np.mean([f[metric] for f in rows["champion"]]))
        ok = value >= bar if op == ">=" else value <= bar
        print(f"champion mean {metric} = {value:.4f} (bar {op} {bar}): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
