"""Drift on a log whose customers were scored without the protected attributes (logged as
null): the engineered features are still counted for every customer, and the features and the
other inputs drift exactly as they do with the attributes given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.monitoring.drift import run_drift
from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.store import open_store
from bankrisk.schema import FIELD_NAMES, PROTECTED
from helpers.factories import make_monitored_bundle, make_raw
from helpers.log_rows import scored_rows


def test_features_are_counted_without_the_protected_attributes(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    make_monitored_bundle().save(model_dir)
    bundle = ModelBundle.load(model_dir)
    raw, _ = make_raw(1200, seed=12)
    raw[:, FIELD_NAMES.index("LIMIT_BAL")] *= 3  # something to drift
    without = raw.copy()
    without[:, [FIELD_NAMES.index(name) for name in PROTECTED]] = np.nan
    results = []
    for name, rows in (("given", raw), ("absent", without)):
        store = open_store(f"sqlite:///{tmp_path / f'{name}.db'}")
        assert store is not None
        ids = [f"C{i}" for i in range(len(rows))]
        start = datetime(2026, 1, 2, tzinfo=UTC)
        store.insert_predictions(scored_rows(bundle, rows, ids, start, timedelta(minutes=1)))
        try:
            results.append(run_drift(store, model_dir, Selection(), 0.1, 0.25))
        finally:
            store.close()
    given, absent = results
    assert not any("missing input" in note for note in absent.notes), absent.notes
    assert absent.features and absent.features.keys() == given.features.keys()
    for name, drift in given.features.items():
        assert absent.features[name].psi == drift.psi, name
    assert absent.inputs["LIMIT_BAL"].psi == given.inputs["LIMIT_BAL"].psi
    assert "feature:utilization_1" in absent.alerts
