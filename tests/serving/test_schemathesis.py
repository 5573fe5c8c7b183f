"""Property-based API tests from the OpenAPI schema (schemathesis 4.x) on the in-process app:
no 5xx, every response conforms to its documented schema, bad data is refused."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from helpers.factories import make_bundle

MAX_BATCH = 5


def _app() -> Any:
    # Built at import time (schemathesis parametrizes at collection): the same bundle as the
    # session fixture, saved and loaded back as `bankrisk serve` does.
    with tempfile.TemporaryDirectory() as directory:
        make_bundle().save(Path(directory))
        bundle = ModelBundle.load(directory)
    return create_app(
        Settings(max_batch_records=MAX_BATCH), Scorer(bundle), logger=JsonLogger(io.StringIO())
    )


APP = _app()
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": 30},
        "checks": {
            # The spec documents 413 for a batch over `maxItems` (the batch limit): that is
            # the right refusal of that negative case, so accept it besides the default 4xx.
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]
            },
        },
        # No links between operations: the stateful phase has nothing to chain.
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)

HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
