"""Pickle-free model runtimes: each model family as plain numpy arrays.

Every predictor maps engineered features (n, k) to a raw logit (n,) and explains it as
per-feature logit contributions (n, k) relative to the training population, which is what
reason codes need. Arrays are saved in an `.npz` and loaded with `allow_pickle=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import numpy as np

Arrays = dict[str, np.ndarray]


class Predictor(Protocol):
    """What the serving bundle needs from a model family."""

    @property
    def kind(self) -> str: ...

    def logit(self, features: np.ndarray) -> np.ndarray: ...

    def contributions(self, features: np.ndarray) -> np.ndarray: ...

    def to_arrays(self) -> Arrays: ...


@dataclass(frozen=True)
class ScorecardPredictor:
    """Binned logistic scorecard: logit = intercept + sum of each feature's bin points.

    `cuts[j]` are the inner bin edges of feature j (a value equal to a cut falls in the upper
    bin), `points[j]` the logit points of its bins, `reference[j]` the population-mean points.
    """

    intercept: float
    cuts: tuple[np.ndarray, ...]
    points: tuple[np.ndarray, ...]
    reference: np.ndarray
    kind: str = "scorecard"

    def _bin_points(self, features: np.ndarray) -> np.ndarray:
        out = np.empty(features.shape, dtype=np.float64)
        for j, (cuts, points) in enumerate(zip(self.cuts, self.points, strict=True)):
            out[:, j] = points[np.searchsorted(cuts, features[:, j], side="right")]
        return out

    def logit(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + self._bin_points(features).sum(axis=1))

    def contributions(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self._bin_points(features) - self.reference)

    def to_arrays(self) -> Arrays:
        return {
            "intercept": np.array([self.intercept]),
            "cut_offsets": np.cumsum([0, *(len(c) for c in self.cuts)]),
            "cuts": np.concatenate(self.cuts),
            "points": np.concatenate(self.points),
            "reference": self.reference,
        }

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> ScorecardPredictor:
        offsets = arrays["cut_offsets"]
        cuts = tuple(arrays["cuts"][a:b] for a, b in pairwise(offsets))
        # Feature j has len(cuts[j]) + 1 bins, laid end to end in `points`.
        ends = np.cumsum([len(c) + 1 for c in cuts])
        points = tuple(np.split(arrays["points"], ends[:-1]))
        return cls(float(arrays["intercept"][0]), cuts, points, arrays["reference"])


@dataclass(frozen=True)
class TreeEnsemblePredictor:
    """Boosted trees as flat node arrays, scored level by level for all trees at once.

    Node i splits on `feature[i]` at `threshold[i]` (x <= threshold goes left). Leaves point
    to themselves and have feature 0, so extra levels are no-ops. `value` holds each node's
    raw output (leaf value, or the mean output below an internal node); the walk from root
    to leaf attributes each step's change in value to the split feature (Saabas), so the
    contributions plus the summed root values equal the logit exactly.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int
    n_features: int
    reference: np.ndarray
    kind: str = "tree_ensemble"

    def _walk(self, features: np.ndarray, explain: bool) -> tuple[np.ndarray, np.ndarray | None]:
        n = features.shape[0]
        nodes = np.broadcast_to(self.roots, (n, self.roots.size))
        rows = np.arange(n)[:, None]
        contrib = np.zeros(n * self.n_features) if explain else None
        for _ in range(self.depth):
            feat = self.feature[nodes]
            go_left = features[rows, feat] <= self.threshold[nodes]
            children = np.where(go_left, self.left[nodes], self.right[nodes])
            if contrib is not None:
                flat = (rows * self.n_features + feat).ravel()
                gain = (self.value[children] - self.value[nodes]).ravel()
                contrib += np.bincount(flat, gain, minlength=contrib.size)
            nodes = children
        logit = self.value[nodes].sum(axis=1)
        return logit, None if contrib is None else contrib.reshape(n, self.n_features)

    def logit(self, features: np.ndarray) -> np.ndarray:
        return self._walk(features, explain=False)[0]

    def contributions(self, features: np.ndarray) -> np.ndarray:
        contrib = self._walk(features, explain=True)[1]
        assert contrib is not None
        return np.asarray(contrib - self.reference)

    def to_arrays(self) -> Arrays:
        return {
            "feature": self.feature,
            "threshold": self.threshold,
            "left": self.left,
            "right": self.right,
            "value": self.value,
            "roots": self.roots,
            "shape": np.array([self.depth, self.n_features]),
            "reference": self.reference,
        }

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> TreeEnsemblePredictor:
        depth, n_features = (int(v) for v in arrays["shape"])
        return cls(
            arrays["feature"],
            arrays["threshold"],
            arrays["left"],
            arrays["right"],
            arrays["value"],
            arrays["roots"],
            depth,
            n_features,
            arrays["reference"],
        )


@dataclass(frozen=True)
class MLPPredictor:
    """A ReLU multilayer perceptron on standardised features, ending in one logit unit.

    Contributions are gradient x input in standardised units (the training mean is 0), a
    first-order attribution that is exact for the linear part of the network.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    reference: np.ndarray
    kind: str = "mlp"

    def _forward(self, features: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        z = (features - self.mean) / self.scale
        h = z
        masks = []
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            pre = h @ w + b
            masks.append(pre > 0)
            h = np.maximum(pre, 0.0)
        logit = (h @ self.weights[-1] + self.biases[-1])[:, 0]
        return z, masks, logit

    def logit(self, features: np.ndarray) -> np.ndarray:
        return self._forward(features)[2]

    def contributions(self, features: np.ndarray) -> np.ndarray:
        z, masks, _ = self._forward(features)
        grad = np.broadcast_to(self.weights[-1][:, 0], (z.shape[0], self.weights[-1].shape[0]))
        for w, mask in zip(reversed(self.weights[:-1]), reversed(masks), strict=True):
            grad = (grad * mask) @ w.T
        return np.asarray(grad * z - self.reference)

    def to_arrays(self) -> Arrays:
        arrays: Arrays = {"mean": self.mean, "scale": self.scale, "reference": self.reference}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{i}"] = w
            arrays[f"b{i}"] = b
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> MLPPredictor:
        n_layers = sum(1 for key in arrays if key.startswith("w"))
        return cls(
            arrays["mean"],
            arrays["scale"],
            tuple(arrays[f"w{i}"] for i in range(n_layers)),
            tuple(arrays[f"b{i}"] for i in range(n_layers)),
            arrays["reference"],
        )


PREDICTOR_KINDS: dict[str, type[ScorecardPredictor | TreeEnsemblePredictor | MLPPredictor]] = {
    "scorecard": ScorecardPredictor,
    "tree_ensemble": TreeEnsemblePredictor,
    "mlp": MLPPredictor,
}


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw logit to a calibrated PD: Platt (a*logit + b) or isotonic (interpolation)."""

    method: str
    x: np.ndarray
    y: np.ndarray

    def __call__(self, logit: np.ndarray) -> np.ndarray:
        if self.method == "platt":
            slope, intercept = self.x
            return np.asarray(1.0 / (1.0 + np.exp(-(slope * logit + intercept))))
        return np.asarray(np.interp(logit, self.x, self.y))

    def to_arrays(self) -> Arrays:
        return {"calibration_x": self.x, "calibration_y": self.y}

    @classmethod
    def from_arrays(cls, method: str, arrays: Arrays) -> Calibrator:
        return cls(method, arrays["calibration_x"], arrays["calibration_y"])
