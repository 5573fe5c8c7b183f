"""What every candidate model family provides to the training pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bankrisk.bundle.predictors import Predictor


class FittedModel(Protocol):
    """A trained model in its native library, with an exact numpy export for serving."""

    params: dict[str, Any]

    def logit(self, features: np.ndarray) -> np.ndarray:
        """Raw (uncalibrated) log-odds of default, computed by the native library."""
        ...

    def export(self, reference_features: np.ndarray, groups: np.ndarray) -> Predictor:
        """The same model, pickle-free, explaining by the reason groups of `groups` (k, g),
        centred on the population of `reference_features` (the good-risk baseline)."""
        ...


class Candidate(Protocol):
    """A model family: fits on training rows, using `early_stop` rows only to stop or tune."""

    name: str

    def fit(
        self, train: Dataset, early_stop: Dataset | None, seed: int, hints: dict[str, Any]
    ) -> FittedModel:
        """Fit; with `early_stop` None, use `hints` (e.g. iterations found in the CV folds)."""
        ...


@dataclass(frozen=True)
class Dataset:
    """Engineered features and labels."""

    features: np.ndarray
    labels: np.ndarray

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.features[index], self.labels[index])
