"""A Keras multilayer perceptron (TensorFlow backend), exported as numpy weight arrays."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bankrisk.bundle.predictors import MLPPredictor, centred
from bankrisk.training.candidates.base import Dataset

HIDDEN_UNITS = (64, 32)
DROPOUT = 0.2
L2 = 1e-4
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
PATIENCE = 8


def _keras() -> Any:
    """Import Keras lazily (it takes seconds) with TensorFlow's log noise turned down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] not in ("", "0")  # 0: the user wants it all
    with _stderr_to_devnull() if quiet else contextlib.nullcontext():
        import keras
    return keras


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 to /dev/null meanwhile. TensorFlow 2.21's libraries, as they load,
    write "oneDNN custom operations are on" (and absl's "All log messages before
    absl::InitializeLog() ...") straight to it, whatever TF_CPP_MIN_LOG_LEVEL says. An import
    that fails still raises, with its message, after the descriptor is back."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@dataclass
class FittedMLP:
    model: Any
    mean: np.ndarray
    scale: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def logit(self, features: np.ndarray) -> np.ndarray:
        scaled = ((features - self.mean) / self.scale).astype(np.float32)
        logits: np.ndarray = np.asarray(self.model(scaled, training=False), dtype=np.float64)
        return logits[:, 0]

    def export(self, reference_features: np.ndarray, groups: np.ndarray) -> MLPPredictor:
        dense = [layer for layer in self.model.layers if layer.weights]
        predictor = MLPPredictor(
            mean=self.mean,
            scale=self.scale,
            weights=tuple(np.asarray(layer.kernel, dtype=np.float64) for layer in dense),
            biases=tuple(np.asarray(layer.bias, dtype=np.float64) for layer in dense),
            groups=groups,
            reference=np.zeros(groups.shape[1]),
        )
        return centred(predictor, reference_features)


class MultilayerPerceptron:
    name = "mlp"

    def __init__(self, max_epochs: int = 60) -> None:
        self.max_epochs = max_epochs

    def _build(self, n_features: int) -> Any:
        keras = _keras()
        layers: list[Any] = [keras.Input(shape=(n_features,))]
        for units in HIDDEN_UNITS:
            layers += [
                keras.layers.Dense(
                    units, activation="relu", kernel_regularizer=keras.regularizers.l2(L2)
                ),
                keras.layers.Dropout(DROPOUT),
            ]
        layers.append(keras.layers.Dense(1))  # a logit: calibration comes later
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
        )
        return model

    def fit(
        self, train: Dataset, early_stop: Dataset | None, seed: int, hints: dict[str, Any]
    ) -> FittedMLP:
        keras = _keras()
        keras.utils.set_random_seed(seed)
        mean = train.features.mean(axis=0)
        scale = train.features.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)

        def scaled(data: Dataset) -> np.ndarray:
            return np.asarray((data.features - mean) / scale, dtype=np.float32)

        model = self._build(train.features.shape[1])
        fit_args: dict[str, Any] = {"batch_size": BATCH_SIZE, "verbose": 0, "shuffle": True}
        if early_stop is None:
            epochs = int(hints["epochs"])
            model.fit(scaled(train), train.labels, epochs=epochs, **fit_args)
        else:
            stopper = keras.callbacks.EarlyStopping(
                patience=PATIENCE, restore_best_weights=True, monitor="val_loss"
            )
            history = model.fit(
                scaled(train),
                train.labels,
                epochs=self.max_epochs,
                callbacks=[stopper],
                validation_data=(scaled(early_stop), early_stop.labels),
                **fit_args,
            )
            losses = history.history["val_loss"]
            epochs = int(np.argmin(losses)) + 1
        params = {
            "hidden_units": list(HIDDEN_UNITS),
            "dropout": DROPOUT,
            "l2": L2,
            "batch_size": BATCH_SIZE,
            "learning_rate": LEARNING_RATE,
            "epochs": epochs,
        }
        return FittedMLP(model, mean, scale, params)
