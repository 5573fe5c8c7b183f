"""The service writes every scored customer to the prediction log, off the request path; a
store that is down costs no 5xx; the live PSI gauge on /metrics follows the inputs."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.monitoring.reference import reference_profiles
from bankrisk.prediction_log.opening import open_writer
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.prediction_log.rows import ScoredRows
from bankrisk.prediction_log.store import PredictionStore, open_store, predictions, pseudonym
from bankrisk.schema import FIELD_NAMES
from helpers.api import Api, customer, to_customer
from helpers.factories import make_bundle, make_raw
from helpers.processes import free_port


def writer_of(api: Api) -> ProcessLogWriter:
    writer: ProcessLogWriter | None = api.app.state.service.log_writer
    assert writer is not None
    return writer


def logged(url: str, salt: str | None = None) -> list[dict[str, Any]]:
    store = open_store(url, pseudonymise=salt is not None, salt=salt)
    assert store is not None
    try:
        return store.read_predictions()
    finally:
        store.close()


def test_in_process_apps_log_nothing_by_default(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert api.client.post("/v1/predict", json=customer()).status_code == 200
    assert api.app.state.service.log_writer is None
    assert list(tmp_path.iterdir()) == []


def test_every_scored_customer_is_logged_single_and_batch(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    api = make_api(prediction_log=url)
    before = datetime.now(UTC)
    single = api.client.post("/v1/predict", json=customer(customer_id="S-1", PAY_0=2)).json()
    records = [customer(customer_id=f"B-{i}", LIMIT_BAL=10_000 * (i + 1)) for i in range(3)]
    batch = api.client.post("/v1/predict/batch", json={"records": records}).json()
    assert writer_of(api).flush(10)

    rows = {row["customer_id"]: row for row in logged(url)}
    assert set(rows) == {"S-1", "B-0", "B-1", "B-2"}
    answers = {"S-1": single, **{p["customer_id"]: p for p in batch["predictions"]}}
    sent = {"S-1": customer(customer_id="S-1", PAY_0=2), **{r["customer_id"]: r for r in records}}
    for key, row in rows.items():
        answer = answers[key]
        assert row["request_id"] == (single if key == "S-1" else batch)["request_id"]
        assert (row["model_name"], row["model_version"]) == ("test-model", "7")
        assert row["model_role"] == "champion"
        assert {name: row[name] for name in FIELD_NAMES} == {
            name: float(sent[key][name]) for name in FIELD_NAMES
        }
        assert row["pd"] == answer["probability_of_default"]
        assert row["score"] == answer["score"]
        assert row["grade"] == answer["risk_grade"]
        assert row["decision"] == answer["decision"]
        assert row["reason_codes"] == answer["reason_codes"]
        assert row["latency_ms"] > 0
        assert before - timedelta(seconds=1) <= row["time"] <= datetime.now(UTC)
    metrics = api.metrics()
    assert metrics[("bankrisk_prediction_log_written_total", ())] == 4
    assert metrics[("bankrisk_prediction_log_dropped_total", ())] == 0


def test_a_large_batch_is_logged_in_full(make_api: Callable[..., Api], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    settings = Settings(prediction_log_batch=100)
    api = make_api(settings, prediction_log=url)
    raw, _ = make_raw(1234, seed=3)
    records = [to_customer(row, f"L-{i}") for i, row in enumerate(raw)]
    response = api.client.post("/v1/predict/batch", json={"records": records})
    assert response.status_code == 200
    assert writer_of(api).flush(30)
    rows = logged(url)
    assert len(rows) == 1234
    assert sorted(r["customer_id"] for r in rows) == sorted(f"L-{i}" for i in range(1234))
    assert all(r["request_id"] == response.json()["request_id"] for r in rows)


def test_pseudonymised_log_keeps_a_salted_hash(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    salt = "s3cret-salt"
    settings = Settings(prediction_log_pseudonymise=True, prediction_log_salt=SecretStr(salt))
    api = make_api(settings, prediction_log=url)
    assert api.client.post("/v1/predict", json=customer(customer_id="C-42")).status_code == 200
    batch = {"records": [customer(customer_id="C-43"), customer(customer_id=None)]}
    assert api.client.post("/v1/predict/batch", json=batch).status_code == 200
    assert writer_of(api).flush(10)

    stored = sorted(r["customer_id"] or "" for r in logged(url, salt))
    assert stored == sorted(["", pseudonym("C-42", salt), pseudonym("C-43", salt)])
    assert "C-42" not in (tmp_path / "log.db").read_bytes().decode("latin-1")


def test_a_store_that_is_down_costs_no_5xx(make_api: Callable[..., Api]) -> None:
    """Nothing listens on the port: every insert fails. The API answers, /ready stays 200
    (the log is not a readiness dependency), drops are counted, memory stays bounded."""
    url = f"postgresql+pg8000://u@127.0.0.1:{free_port()}/db"
    settings = Settings(
        prediction_log_queue=50, prediction_log_batch=10, prediction_log_spool="off"
    )  # without a spool: rows wait in memory, and beyond its room are dropped
    api = make_api(settings, prediction_log=url)
    writer = writer_of(api)
    statuses = [api.client.post("/v1/predict", json=customer()).status_code for _ in range(40)]
    batch = {"records": [customer(customer_id=f"D-{i}") for i in range(100)]}
    statuses.append(api.client.post("/v1/predict/batch", json=batch).status_code)

    assert statuses == [200] * 41
    assert api.client.get("/ready").status_code == 200
    assert writer.held <= 50
    metrics = api.metrics()
    assert metrics[("bankrisk_prediction_log_dropped_total", ())] >= 90
    assert metrics[("bankrisk_prediction_log_written_total", ())] == 0
    assert metrics[("bankrisk_prediction_log_queued_rows", ())] <= 50
    deadline = time.monotonic() + 30  # the writer process reports its error asynchronously
    while writer.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.last_error is not None
    assert not writer.close(0.5)  # the store never came back: what was held is dropped
    assert writer.held == 0
    assert api.metrics()[("bankrisk_prediction_log_dropped_total", ())] == 140


@pytest.fixture(scope="module")
def profiled_scorer() -> Scorer:
    """The test model with reference distributions of its training rows, as training writes
    them (the session bundle has none)."""
    bundle: ModelBundle = make_bundle()
    raw, _ = make_raw(3000, seed=5)
    bundle.metadata["reference_distributions"] = reference_profiles(
        {name: raw[:, j] for j, name in enumerate(FIELD_NAMES)}
    )
    return Scorer(bundle)


def psi_of(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        dict(labels)["feature"]: value
        for (name, labels), value in metrics.items()
        if name == "bankrisk_feature_psi"
    }


def test_psi_gauge_follows_shifted_traffic(
    make_api: Callable[..., Api], profiled_scorer: Scorer
) -> None:
    api = make_api(scorer=profiled_scorer)
    empty = api.metrics()
    assert empty[("bankrisk_feature_psi_window_rows", ())] == 0
    assert all(math.isnan(v) for v in psi_of(empty).values())

    raw, _ = make_raw(600, seed=21)
    raw[:, FIELD_NAMES.index("LIMIT_BAL")] *= 3
    records = [to_customer(row) for row in raw]
    assert api.client.post("/v1/predict/batch", json={"records": records[:580]}).status_code == 200
    for record in records[580:]:  # the single-customer path counts too
        assert api.client.post("/v1/predict", json=record).status_code == 200

    metrics = api.metrics()
    assert metrics[("bankrisk_feature_psi_window_rows", ())] == 600
    psi = psi_of(metrics)
    assert set(psi) == set(FIELD_NAMES)
    assert psi["LIMIT_BAL"] > 0.25
    assert psi["AGE"] < 0.1 and psi["BILL_AMT1"] < 0.1


def test_psi_batch_and_single_paths_count_alike(profiled_scorer: Scorer) -> None:
    from bankrisk.serving.drift_gauge import InputDrift

    raw, _ = make_raw(257, seed=8)
    bulk = InputDrift.from_metadata(profiled_scorer.bundle.metadata)
    one_by_one = InputDrift.from_metadata(profiled_scorer.bundle.metadata)
    assert bulk is not None and one_by_one is not None
    bulk.update(raw)
    for row in raw.tolist():
        one_by_one.psi.update(row)
    assert bulk.psi.n == one_by_one.psi.n == 257
    assert bulk.psi.psi() == pytest.approx(one_by_one.psi.psi())


def test_no_reference_distributions_no_gauge(api: Api) -> None:
    names = {name for name, _ in api.metrics()}
    assert "bankrisk_feature_psi" not in names
    assert api.client.post("/v1/predict", json=customer()).status_code == 200


def test_store_type_is_the_monitoring_store(make_api: Callable[..., Api], tmp_path: Path) -> None:
    api = make_api(prediction_log=f"sqlite:///{tmp_path / 'log.db'}")
    assert isinstance(writer_of(api).store, PredictionStore)
    assert make_api(prediction_log="off").app.state.service.log_writer is None


def test_open_writer_is_none_when_the_log_is_off() -> None:
    assert open_writer(Settings(prediction_log="off")) is None
    assert open_writer(Settings(prediction_log=" OFF ")) is None


def test_the_service_rows_read_back_as_sqlalchemy_writes_the_api_answers(
    scorer: Scorer, tmp_path: Path
) -> None:
    """The service's rows (through the writer process's bytes) inserted by the one insert
    path (on SQLite the driver's `executemany`) read back equal to rows built by hand from
    the API's answers and inserted by SQLAlchemy Core's own insert."""
    raw, _ = make_raw(450, seed=4)  # more rows than one SQLite statement takes
    ids: list[str | None] = [f"E-{i}" if i % 3 else None for i in range(450)]
    answers = scorer.predict(raw, ids)
    group = ScoredRows("req-1", scorer.model_ref, [(raw, answers)], 1.5)
    # What the API contract says a row is, built here by hand.
    when = datetime.fromtimestamp(group.when, UTC)
    records = [
        {
            "request_id": "req-1",
            "time": when,
            "model_name": scorer.model_ref["name"],
            "model_version": scorer.model_ref["version"],
            "model_role": scorer.model_ref["role"],
            "customer_id": None if p["customer_id"] is None else pseudonym(p["customer_id"], "x"),
            **dict(zip(FIELD_NAMES, row.tolist(), strict=True)),
            "pd": p["probability_of_default"],
            "score": p["score"],
            "grade": p["risk_grade"],
            "decision": p["decision"],
            "reason_codes": json.dumps(p["reason_codes"]),
            "latency_ms": 1.5,
        }
        for row, p in zip(raw, answers, strict=True)
    ]
    read = []
    for name in ("sqlalchemy", "service"):
        store = open_store(f"sqlite:///{tmp_path / name}.db", pseudonymise=True, salt="x")
        assert store is not None
        if name == "service":
            assert store.insert_predictions(group.expand()) == 450
        else:
            with store.engine.begin() as connection:
                connection.execute(predictions.insert(), records)
        read.append([{k: v for k, v in r.items() if k != "id"} for r in store.read_predictions()])
        store.close()
    assert read[0] == read[1]
    assert len(read[0]) == 450 and read[0][1]["customer_id"] == pseudonym("E-1", "x")
