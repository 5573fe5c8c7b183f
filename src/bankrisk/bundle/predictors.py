"""Pickle-free model runtimes: each model family as plain arrays or an ONNX graph.

Every predictor maps engineered features (n, k) to a raw logit (n,) and, in the same pass,
explains it as logit contributions per reason group (n, g), centred on a reference
population (the good-risk baseline: development rows that did not default), which is what
reason codes need (`features.reasons`). Arrays are saved in an `.npz` and loaded with
`allow_pickle=False`; boosted trees are an ONNX graph (bytes in the same file) run by
onnxruntime, so that a 1,000-row batch takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

Arrays = dict[str, np.ndarray]
Explanation = tuple[np.ndarray, np.ndarray]
# One row's explanation as Python floats: (logit, contributions per reason group).
RowExplanation = tuple[float, list[float]]


class Predictor(Protocol):
    """What the serving bundle needs from a model family."""

    @property
    def kind(self) -> str: ...

    @property
    def reference(self) -> np.ndarray: ...

    def logit(self, features: np.ndarray) -> np.ndarray: ...

    def explain(self, features: np.ndarray) -> Explanation:
        """(logit, contributions per reason group minus `reference`)."""
        ...

    def explain_one(self, features: Sequence[float]) -> RowExplanation:
        """`explain` of one row, as Python floats (the same values)."""
        ...

    def to_arrays(self) -> Arrays: ...


@dataclass(frozen=True)
class ScorecardPredictor:
    """Binned logistic scorecard: logit = intercept + sum of each feature's bin points.

    `cuts[j]` are the inner bin edges of feature j (a value equal to a cut falls in the upper
    bin), `points[j]` the logit points of its bins; `groups` maps features to reason groups.
    """

    intercept: float
    cuts: tuple[np.ndarray, ...]
    points: tuple[np.ndarray, ...]
    groups: np.ndarray
    reference: np.ndarray
    kind: str = "scorecard"

    def _bin_points(self, features: np.ndarray) -> np.ndarray:
        out = np.empty(features.shape, dtype=np.float64)
        for j, (cuts, points) in enumerate(zip(self.cuts, self.points, strict=True)):
            out[:, j] = points[np.searchsorted(cuts, features[:, j], side="right")]
        return out

    def logit(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + self._bin_points(features).sum(axis=1))

    def explain(self, features: np.ndarray) -> Explanation:
        points = self._bin_points(features)
        return self.intercept + points.sum(axis=1), points @ self.groups - self.reference

    def explain_one(self, features: Sequence[float]) -> RowExplanation:
        return _first_row(self.explain(np.array([features], dtype=np.float64)))

    def to_arrays(self) -> Arrays:
        return {
            "intercept": np.array([self.intercept]),
            "cut_offsets": np.cumsum([0, *(len(c) for c in self.cuts)]),
            "cuts": np.concatenate(self.cuts),
            "points": np.concatenate(self.points),
            "groups": self.groups,
            "reference": self.reference,
        }

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> ScorecardPredictor:
        cuts = tuple(arrays["cuts"][a:b] for a, b in pairwise(arrays["cut_offsets"]))
        # Feature j has len(cuts[j]) + 1 bins, laid end to end in `points`.
        ends = np.cumsum([len(c) + 1 for c in cuts])
        points = tuple(np.split(arrays["points"], ends[:-1]))
        return cls(
            float(arrays["intercept"][0]), cuts, points, arrays["groups"], arrays["reference"]
        )


@dataclass(frozen=True)
class OnnxTreePredictor:
    """Boosted trees compiled to one ONNX TreeEnsembleRegressor with 1 + g outputs.

    Output 0 sums the leaf values (the logit); output 1 + j sums, over trees, the Saabas
    contribution of reason group j on the path to the reached leaf (each split's change in
    node value, credited to the split feature's group), precomputed per leaf at export.
    """

    onnx_model: bytes
    reference: np.ndarray
    kind: str = "onnx_trees"

    @cached_property
    def _session(self) -> Any:
        import onnxruntime as ort

        ort.disable_telemetry_events()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one request per core: no thread hand-offs
        options.inter_op_num_threads = 1
        return ort.InferenceSession(self.onnx_model, options, providers=["CPUExecutionProvider"])

    def _run(self, features: np.ndarray) -> np.ndarray:
        outputs = self._session.run(None, {"X": np.ascontiguousarray(features, np.float64)})
        return np.asarray(outputs[0], dtype=np.float64)

    def logit(self, features: np.ndarray) -> np.ndarray:
        return self._run(features)[:, 0]

    def explain(self, features: np.ndarray) -> Explanation:
        out = self._run(features)
        return out[:, 0], out[:, 1:] - self.reference

    @cached_property
    def _reference_list(self) -> list[float]:
        return list(self.reference.tolist())

    def explain_one(self, features: Sequence[float]) -> RowExplanation:
        """One model call, then plain Python: the same subtraction as `explain`'s."""
        feed = {"X": np.array([features], dtype=np.float64)}
        logit, *by_group = self._session.run(self._outputs, feed)[0][0].tolist()
        return logit, [c - r for c, r in zip(by_group, self._reference_list, strict=True)]

    @cached_property
    def _outputs(self) -> list[str]:
        return [output.name for output in self._session.get_outputs()]

    def to_arrays(self) -> Arrays:
        return {"onnx": np.frombuffer(self.onnx_model, dtype=np.uint8), "reference": self.reference}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> OnnxTreePredictor:
        return cls(arrays["onnx"].tobytes(), arrays["reference"])


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
    groups: np.ndarray
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

    def explain(self, features: np.ndarray) -> Explanation:
        z, masks, logit = self._forward(features)
        grad = np.broadcast_to(self.weights[-1][:, 0], (z.shape[0], self.weights[-1].shape[0]))
        for w, mask in zip(reversed(self.weights[:-1]), reversed(masks), strict=True):
            grad = (grad * mask) @ w.T
        return logit, (grad * z) @ self.groups - self.reference

    def explain_one(self, features: Sequence[float]) -> RowExplanation:
        return _first_row(self.explain(np.array([features], dtype=np.float64)))

    def to_arrays(self) -> Arrays:
        arrays: Arrays = {
            "mean": self.mean,
            "scale": self.scale,
            "groups": self.groups,
            "reference": self.reference,
        }
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
            arrays["groups"],
            arrays["reference"],
        )


def _first_row(explanation: Explanation) -> RowExplanation:
    logit, by_group = explanation
    return float(logit[0]), list(by_group[0].tolist())


PREDICTOR_KINDS: dict[str, type[ScorecardPredictor | OnnxTreePredictor | MLPPredictor]] = {
    "scorecard": ScorecardPredictor,
    "onnx_trees": OnnxTreePredictor,
    "mlp": MLPPredictor,
}


@dataclass(frozen=True)
class Calibrator:
    """Platt scaling: PD = sigmoid(slope * logit + intercept), fitted on out-of-fold logits
    so that a PD of 0.2 means 20%. Two numbers, kept in metadata.json."""

    slope: float
    intercept: float
    method: ClassVar[str] = "platt"

    def __call__(self, logit: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * logit + self.intercept))))

    def one(self, logit: float) -> float:
        """`self(logit)` of one logit, in plain Python but for numpy's `exp` (the same value
        to the last bit: `math.exp` may differ there)."""
        return 1.0 / (1.0 + float(np.exp(-(self.slope * logit + self.intercept))))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept}


P = TypeVar("P", ScorecardPredictor, OnnxTreePredictor, MLPPredictor)


def centred(predictor: P, features: np.ndarray) -> P:
    """The predictor with contributions centred on the mean over `features` (`predictor` must
    have a zero reference). Training passes the good-risk baseline, the development rows that
    did not default: a positive contribution then means "riskier than a typical good payer
    because of this characteristic"."""
    return replace(predictor, reference=predictor.explain(features)[1].mean(axis=0))
