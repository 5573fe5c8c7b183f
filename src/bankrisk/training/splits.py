"""Stratified, seeded splits: a test split never used for tuning, and CV folds on the rest."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split


def split_dev_test(
    labels: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the development and test splits, stratified on the label."""
    index = np.arange(labels.size)
    dev, test = train_test_split(index, test_size=test_size, stratify=labels, random_state=seed)
    return np.sort(dev), np.sort(test)


def cv_folds(labels: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held-out) index pairs of stratified K-fold cross-validation."""
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(fit, held) for fit, held in folds.split(np.zeros(labels.size), labels)]


def early_stopping_split(
    labels: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split fit rows into rows to train on and a small stratified set to stop training."""
    index = np.arange(labels.size)
    train, stop = train_test_split(index, test_size=share, stratify=labels, random_state=seed)
    return train, stop
