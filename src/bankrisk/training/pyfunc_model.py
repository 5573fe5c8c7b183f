"""MLflow "model from code": the registered model answers a DataFrame of the 23 UCI columns.

MLflow loads this file by path (no pickle); the model reads the serving bundle that was
logged beside it as the artifact `bundle`, so `mlflow.pyfunc.load_model`, `mlflow models
serve` and Spark's `spark_udf` all score with exactly the bundle the API serves.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import BUNDLE_ARTIFACT
from bankrisk.data.validate import validate_frame
from bankrisk.errors import DataError
from bankrisk.schema import FIELD_NAMES


class BundleModel(PythonModel):
    """Probability of default for each row of a DataFrame with the UCI feature columns."""

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(context.artifacts[BUNDLE_ARTIFACT])

    # MLflow checks a PythonModel's `predict` for type hints when the class is defined, and
    # without them warns "Add type hints to the `predict` method" under a warning filter of
    # its own (the caller's filters cannot hide it). This model validates its input itself
    # and must not get a schema from hints; MLflow's own models skip the check this way.
    _skip_type_hint_validation = True

    # No type hints here: MLflow would try to derive an input schema from them.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        frame = pd.DataFrame(model_input)
        try:
            clean = validate_frame(
                frame[[c for c in frame.columns if c in FIELD_NAMES]], require_target=False
            )
        except DataError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        return self.bundle.predict_pd(clean[list(FIELD_NAMES)].to_numpy(dtype=np.float64))


mlflow.models.set_model(BundleModel())
