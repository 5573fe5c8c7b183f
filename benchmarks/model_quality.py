"""Model-quality benchmark: the whole training pipeline in 5-fold stratified cross-validation.

Each outer fold is a test split the pipeline never sees: candidates are cross-fitted,
calibrated and selected on the other four folds exactly as `bankrisk train` does, and the
champion's exported bundle scores the fold. Prints per-fold figures, then each model's mean
± standard deviation over the folds, the time each candidate took, and the bars.

    make benchmark-quality DATA=../shared/data/default_of_credit_card_clients.csv
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bankrisk.config import Settings
from bankrisk.data.training_data import read_training_data
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.features.reasons import ReasonPolicy
from bankrisk.training.pipeline import dataset, make_candidates, select_champion, train_candidate

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared/data/default_of_credit_card_clients.csv"
)
KEYS = ("roc_auc", "brier", "ece", "log_loss", "ks", "pr_auc")
BARS = {"roc_auc": (">=", 0.785), "brier": ("<=", 0.135), "ece": ("<=", 0.015)}


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    data = read_training_data(args.data)
    outer = StratifiedKFold(args.folds, shuffle=True, random_state=settings.seed)
    rows: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    wins: dict[str, int] = {}
    started = datetime.now(UTC)
    start = time.monotonic()
    for k, (dev, test) in enumerate(outer.split(data.raw, data.labels)):
        dev_data = dataset(data.raw[dev], data.labels[dev], settings)
        reasons = ReasonPolicy.from_development(data.raw[dev], data.labels[dev])
        results = []
        for candidate in make_candidates(settings):
            tic = time.monotonic()
            results.append(
                train_candidate(candidate, dev_data, settings, lambda _msg: None, reasons)
            )
            seconds[candidate.name] = seconds.get(candidate.name, 0.0) + time.monotonic() - tic
        champion = select_champion(results)
        wins[champion.name] = wins.get(champion.name, 0) + 1
        for result in results:
            probabilities = result.bundle(settings, {}).predict_pd(data.raw[test])
            metrics = classification_metrics(data.labels[test], probabilities, result.threshold)
            rows.setdefault(result.name, []).append(metrics)
            if result is champion:
                rows.setdefault("champion", []).append(metrics)
        print(
            f"fold {k + 1}/{args.folds} ({time.monotonic() - start:.0f}s): champion="
            f"{champion.name} " + " ".join(f"{m}={rows['champion'][-1][m]:.4f}" for m in KEYS),
            flush=True,
        )
    elapsed = time.monotonic() - start
    print(
        f"\n{args.folds}-fold CV on {data.labels.size} rows, {settings.candidates}, "
        f"use_age={settings.use_age}, use_education={settings.use_education} "
        "(SEX and MARRIAGE never used)"
    )
    print(
        f"started {started:%Y-%m-%d %H:%M} UTC, took {_minutes(elapsed)} on {os.cpu_count()} "
        "cores; champion per fold: " + ", ".join(f"{n} {c}x" for n, c in wins.items())
    )
    print(f"mean ± standard deviation over the {args.folds} test folds")
    print(f"{'model':<10}" + "".join(f"{m:>17}" for m in KEYS) + f"{'fit time':>12}")
    for name, folds in rows.items():
        cells = "".join(
            f"{np.mean([f[m] for f in folds]):>10.4f} ±{np.std([f[m] for f in folds]):.4f}"
            for m in KEYS
        )
        fit = f"{seconds[name]:>11.0f}s" if name in seconds else f"{'':>12}"
        print(f"{name:<10}{cells}{fit}")
    print()
    for metric, (op, bar) in BARS.items():
        value = float(np.mean([f[metric] for f in rows["champion"]]))
        ok = value >= bar if op == ">=" else value <= bar
        print(f"champion mean {metric} = {value:.4f} (bar {op} {bar}): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
