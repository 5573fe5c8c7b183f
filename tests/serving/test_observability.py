"""`Metrics.record_predictions` counts a batch slice in bulk: every exported series and value
(bucket counts, count, and the sum to the last bit) is what observing the customers one by
one gives."""

from __future__ import annotations

import random
from typing import Any

from prometheus_client import CollectorRegistry

from bankrisk.core.scorer import ModelRef
from bankrisk.serving.observability import Metrics

GRADES = ["A1", "B2", "C1", "E1"]
BOUNDS = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]


def predictions(n: int, seed: int) -> list[Any]:
    """Answers with PDs anywhere in [0, 1], bucket bounds hit exactly among them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        pd = BOUNDS[i % len(BOUNDS)] if i % 7 == 0 else rng.random()
        if i % 50 == 0:
            pd = 0.0
        grade = rng.choice(GRADES)
        out.append(
            {
                "probability_of_default": pd,
                "risk_grade": grade,
                "decision": "decline" if grade == "E1" else "approve",
            }
        )
    return out


def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    """Every sample but the creation timestamps (which differ between two registries)."""
    return [
        (s.name, s.labels, s.value)
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    ]


def test_a_slice_in_bulk_exports_what_one_by_one_does() -> None:
    champion: ModelRef = {"name": "m", "version": "3", "role": "champion"}
    shadow: ModelRef = {"name": "m", "version": "4", "role": "shadow"}
    bulk, one_by_one = Metrics(), Metrics()
    for seed, size in enumerate([200, 200, 17, 3, 1000]):
        batch = predictions(size, seed)
        for model in (champion, shadow):
            bulk.record_predictions(batch, model)
            for p in batch:
                one_by_one.record_predictions([p], model)

    exported = samples(bulk.registry)
    assert exported == samples(one_by_one.registry)  # floats compared exactly
    values = {(name, tuple(labels.items())): value for name, labels, value in exported}
    assert values[("bankrisk_probability_of_default_count", ())] == 1420  # not the shadow's
    assert values[("bankrisk_probability_of_default_bucket", (("le", "0.02"),))] > 0
    total = sum(v for (name, _), v in values.items() if name == "bankrisk_predictions_total")
    assert total == 2 * 1420


_MODEL_INFO_SERIES = """
from prometheus_client import generate_latest
from bankrisk.serving.observability import Metrics
metrics = Metrics()
metrics.show_models(
    {"name": "old", "version": "7", "role": "champion"},
    {"name": "new", "version": "8", "role": "challenger"},
)
text = generate_latest(metrics.registry).decode()
print("\\n".join(line for line in text.splitlines() if line.startswith("bankrisk_model_info")))
"""


def test_model_info_series_come_in_the_same_order_in_every_process() -> None:
    """Python randomises string hashes per process (PYTHONHASHSEED): series kept in a set
    came out in a different order from one run to the next. Champion first, then challenger.
    """
    import os
    import subprocess
    import sys

    outputs = {
        subprocess.run(
            [sys.executable, "-c", _MODEL_INFO_SERIES],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for seed in range(4)
    }
    assert outputs == {
        'bankrisk_model_info{name="old",role="champion",version="7"} 1.0\n'
        'bankrisk_model_info{name="new",role="challenger",version="8"} 1.0\n'
    }
