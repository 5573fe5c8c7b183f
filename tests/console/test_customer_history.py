"""A customer's scores over time and last inputs, read from the log by customer id, also
when the log keeps pseudonyms instead of ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bankrisk.prediction_log.history import customer_history, latest_inputs
from bankrisk.prediction_log.opening import open_reader
from helpers.log_rows import prediction_row

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("salt", [None, "pepper"])
def test_history_and_latest_inputs_by_customer_id(tmp_path: Path, salt: str | None) -> None:
    store = open_reader(
        f"sqlite:///{tmp_path / 'log.db'}", pseudonymise=salt is not None, salt=salt
    )
    assert store is not None
    rows = [
        prediction_row(0, when=START + timedelta(days=2), customer_id="A7", pd=0.2),
        prediction_row(1, when=START, customer_id="A7", pd=0.4, PAY_0=3.0, SEX=None),
        prediction_row(2, when=START + timedelta(days=1), customer_id="B1", pd=0.9),
        prediction_row(
            3, when=START + timedelta(days=3), customer_id="A7", pd=0.7, model_role="shadow"
        ),
    ]
    store.insert_predictions(rows)
    history = customer_history(store, "A7")
    assert [(h.time, h.pd) for h in history] == [(START, 0.4), (START + timedelta(days=2), 0.2)]
    latest = latest_inputs(store, "A7")
    assert latest is not None and latest.time == START + timedelta(days=2)
    assert latest.values["PAY_0"] == 0.0 and latest.values["LIMIT_BAL"] == 10_000.0
    assert customer_history(store, "nobody") == [] and latest_inputs(store, "nobody") is None
    other = latest_inputs(store, "B1")
    assert other is not None and other.values["LIMIT_BAL"] == 30_000.0
    with store.engine.connect() as connection:
        stored = {r[0] for r in connection.exec_driver_sql("SELECT customer_id FROM predictions")}
    assert ("A7" in stored) is (salt is None)  # pseudonymised: only the keyed hash is kept
    store.close()


def test_a_log_without_tables_is_empty(tmp_path: Path) -> None:
    store = open_reader(f"sqlite:///{tmp_path / 'empty.db'}", create=False)
    assert store is not None
    assert customer_history(store, "A7") == [] and latest_inputs(store, "A7") is None
