"""Monitoring's figures on one fixed log, recorded before monitoring was rebuilt for scale
(issue 20), so that the rebuilt code can be shown to give the same figures to 1e-9.

The log: the small monitored bundle scores 6,000 synthetic customers, one prediction each,
champion only, every 30 minutes from 2026-01-01 (into May); the second half with LIMIT_BAL
tripled and PAY_0 two months later; every customer's outcome ingested. On such a log (one role,
one prediction per customer) the rules monitoring now states (champion by default, each
customer's latest prediction) select every row, as before. `tests/golden/monitoring.json`
holds `bankrisk monitor drift --json` (the whole log, and February alone) and `bankrisk
monitor performance --json`; re-record only for an intended change of figures:

    .venv/bin/python tests/helpers/monitoring_figures.py
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.monitoring.drift import run_drift
from bankrisk.monitoring.performance import run_performance
from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.schema import FIELD_NAMES

RECORDED = Path(__file__).resolve().parents[1] / "golden" / "monitoring.json"
START = datetime(2026, 1, 1, tzinfo=UTC)
FEBRUARY = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
CUSTOMERS = 6_000


def differences(expected: Any, got: Any, path: str = "", *, new_keys: bool = False) -> list[str]:
    """Where two parsed JSON outputs differ (a float to 1e-9 of its size, integers exactly);
    with `new_keys`, keys `got` has and `expected` lacks are allowed (added since a
    recording)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        keys = expected.keys() if new_keys else sorted(set(expected) | set(got))
        return [
            d
            for k in keys
            for d in differences(expected.get(k), got.get(k), f"{path}.{k}", new_keys=new_keys)
        ]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [
            d
            for i, (a, b) in enumerate(zip(expected, got, strict=True))
            for d in differences(a, b, f"{path}[{i}]", new_keys=new_keys)
        ]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (expected, got))
    floats = isinstance(expected, float) or isinstance(got, float)
    if numbers and floats and math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12):
        return []
    return [] if expected == got else [f"{path}: {got!r} != {expected!r}"]


def build_log(directory: Path) -> tuple[PredictionStore, Path]:
    """The fixed log (SQLite in `directory`) and the bundle it was scored with."""
    from helpers.factories import make_monitored_bundle, make_raw
    from helpers.log_rows import scored_rows

    bundle = make_monitored_bundle()
    model_dir = directory / "bundle"
    bundle.save(model_dir)
    raw, labels = make_raw(CUSTOMERS, seed=21)
    half = CUSTOMERS // 2
    raw[half:, FIELD_NAMES.index("LIMIT_BAL")] *= 3
    pay0 = FIELD_NAMES.index("PAY_0")
    raw[half:, pay0] = np.minimum(raw[half:, pay0] + 2, 8)
    ids = [f"C{i:05d}" for i in range(CUSTOMERS)]
    store = open_store(f"sqlite:///{directory / 'log.db'}")
    assert store is not None
    store.insert_predictions(scored_rows(bundle, raw, ids, START, timedelta(minutes=30)))
    store.upsert_outcomes(zip(ids, labels.astype(int).tolist(), strict=True), "figures")
    return store, model_dir


def figures(store: PredictionStore, model_dir: Path) -> dict[str, Any]:
    """What the commands print with --json, parsed."""
    return {
        "drift": json.loads(run_drift(store, model_dir, Selection(), 0.1, 0.25).to_json()),
        "drift_february": json.loads(
            run_drift(store, model_dir, Selection(*FEBRUARY), 0.1, 0.25).to_json()
        ),
        "performance": json.loads(run_performance(store, Selection()).to_json()),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, model_dir = build_log(Path(folder))
        RECORDED.write_text(json.dumps(figures(store, model_dir), indent=1) + "\n")
        store.close()
    print(f"recorded {RECORDED}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
