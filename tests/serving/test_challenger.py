"""A challenger beside the champion, in-process: canary (a sticky share answered by it) and
shadow (scored after the answer, logged as `shadow`, never in a response), with 2,000
customer ids, the prediction log on SQLite and /metrics."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.after import AfterScoring
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.opening import open_log as open_prediction_log
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.serving.app import create_app
from bankrisk.serving.challenger import Shadow, bucket, canary_cut, in_canary
from bankrisk.serving.observability import JsonLogger, Metrics
from helpers.api import Api, TestClient, to_customer
from helpers.factories import make_raw

CUSTOMERS = 2_000
CANARY_PERCENT = 20.0


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    raw, _ = make_raw(CUSTOMERS, seed=23)
    return [to_customer(row, f"C-{i:06d}") for i, row in enumerate(raw)]


@pytest.fixture(scope="module")
def challenger_bundle(challenger_dir: Path) -> ModelBundle:
    return ModelBundle.load(challenger_dir)


@pytest.fixture
def make_challenged(
    scorer: Scorer, challenger_bundle: ModelBundle, tmp_path: Path
) -> Iterator[Callable[..., tuple[Api, str]]]:
    """An app with the test champion (v7) and the scorecard challenger (v8) in `mode`,
    logging to its own SQLite file; yields a builder returning (api, log URL)."""
    built: list[tuple[TestClient, Any, PredictionStore]] = []

    def build(mode: str, **settings: Any) -> tuple[Api, str]:
        url = f"sqlite:///{tmp_path / f'{mode}-{len(built)}.db'}"
        spool = str(tmp_path / f"spool-{len(built)}")
        config = Settings(
            challenger_mode=mode, prediction_log=url, prediction_log_spool=spool, **settings
        )
        store = open_prediction_log(config)
        assert store is not None
        log = io.StringIO()
        app = create_app(
            config,
            scorer,
            JsonLogger(log),
            prediction_store=store,
            challenger=Scorer(challenger_bundle, mode),
        )
        # Entered: one event loop for the app's life, as under Uvicorn (the shadow scores
        # after the answers, on that loop).
        client = TestClient(app, raise_server_exceptions=False).__enter__()
        built.append((client, app, store))
        return Api(client, log, app), url

    yield build
    for client, app, store in built:
        client.__exit__(None, None, None)
        app.state.service.log_writer.close(5)
        store.close()


def _logged(url: str) -> list[dict[str, Any]]:
    store = open_store(url)
    assert store is not None
    try:
        return store.read_predictions()
    finally:
        store.close()


def _roles(url: str) -> Counter[tuple[str, str]]:
    """(role, version) of every logged row."""
    return Counter((row["model_role"], row["model_version"]) for row in _logged(url))


def _flush(api: Api) -> None:
    writer = api.app.state.service.log_writer
    assert writer.close(10), writer.last_error


# ---- canary -------------------------------------------------------------------------------


def test_canary_answers_a_sticky_share_of_customers(
    make_challenged: Callable[..., tuple[Api, str]], customers: list[dict[str, Any]]
) -> None:
    api, url = make_challenged("canary", canary_percent=CANARY_PERCENT)
    answered: dict[str, dict[str, str]] = {}
    for record in customers:
        response = api.client.post("/v1/predict", json=record)
        assert response.status_code == 200, response.text
        answered[record["customer_id"]] = response.json()["model"]

    roles = Counter(model["role"] for model in answered.values())
    assert set(roles) == {"champion", "canary"}
    share = 100 * roles["canary"] / CUSTOMERS
    assert abs(share - CANARY_PERCENT) <= 3, share
    for model in answered.values():
        expected = {"champion": "7", "canary": "8"}[model["role"]]
        assert model == {"name": "test-model", "version": expected, "role": model["role"]}

    # Sticky: the same customers again, singly and in one batch, get the same model.
    for record in customers[:300]:
        again = api.client.post("/v1/predict", json=record).json()["model"]
        assert again == answered[record["customer_id"]]
    batch = api.client.post("/v1/predict/batch", json={"records": customers}).json()
    assert batch["model"]["role"] == "champion"
    for prediction in batch["predictions"]:
        assert prediction["model"] == answered[prediction["customer_id"]]

    # /metrics counts predictions by model version and role: two passes of every customer
    # and 300 again.
    samples = api.metrics()
    by_role: Counter[tuple[str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "bankrisk_predictions_total":
            found = dict(labels)
            by_role[(found["role"], found["model_version"])] += int(value)
    again = Counter(m["role"] for m in list(answered.values())[:300])
    assert by_role == {
        ("champion", "7"): 2 * roles["champion"] + again["champion"],
        ("canary", "8"): 2 * roles["canary"] + again["canary"],
    }
    info = {labels for name, labels in samples if name == "bankrisk_model_info"}
    assert info == {
        (("name", "test-model"), ("role", "champion"), ("version", "7")),
        (("name", "test-model"), ("role", "challenger"), ("version", "8")),
    }

    _flush(api)
    logged = _roles(url)
    assert logged == {
        ("champion", "7"): 2 * roles["champion"] + again["champion"],
        ("canary", "8"): 2 * roles["canary"] + again["canary"],
    }


def test_canary_share_follows_the_setting(
    make_challenged: Callable[..., tuple[Api, str]], customers: list[dict[str, Any]]
) -> None:
    """0% never and 100% always answers with the canary; a customer without an id is
    routed by the request id (sticky per X-Request-ID)."""
    for percent, role in ((0.0, "champion"), (100.0, "canary")):
        api, _ = make_challenged("canary", canary_percent=percent)
        batch = api.client.post("/v1/predict/batch", json={"records": customers[:50]}).json()
        assert {p["model"]["role"] for p in batch["predictions"]} == {role}

    api, _ = make_challenged("canary", canary_percent=50.0)
    anonymous = {k: v for k, v in customers[0].items() if k != "customer_id"}
    for request_id in (f"req-{i}" for i in range(40)):
        expected = "canary" if in_canary(request_id, canary_cut(50.0)) else "champion"
        for _ in range(2):
            response = api.client.post(
                "/v1/predict", json=anonymous, headers={"X-Request-ID": request_id}
            )
            assert response.json()["model"]["role"] == expected


def test_canary_hash_is_stable_across_processes() -> None:
    """Not Python's salted `hash`: another interpreter with another hash seed puts every
    customer in the same bucket."""
    ids = [f"C-{i:06d}" for i in range(200)]
    code = (
        "import json, sys; from bankrisk.serving.challenger import bucket; "
        "print(json.dumps([bucket(i) for i in json.loads(sys.argv[1])]))"
    )
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(ids)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        assert json.loads(done.stdout) == [bucket(i) for i in ids]


# ---- shadow -------------------------------------------------------------------------------


def test_shadow_scores_every_customer_off_the_response(
    make_challenged: Callable[..., tuple[Api, str]],
    make_api: Callable[..., Api],
    customers: list[dict[str, Any]],
) -> None:
    api, url = make_challenged("shadow")
    alone = make_api()  # the champion without a challenger

    def strip(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "request_id"}

    singles = customers[:1_500]
    for record in singles:
        with_shadow = api.client.post("/v1/predict", json=record)
        assert with_shadow.status_code == 200
        assert strip(with_shadow.json()) == strip(
            alone.client.post("/v1/predict", json=record).json()
        )
    records = {"records": customers[1_500:]}
    batch = api.client.post("/v1/predict/batch", json=records).json()
    assert strip(batch) == strip(alone.client.post("/v1/predict/batch", json=records).json())
    assert batch["model"] == {"name": "test-model", "version": "7", "role": "champion"}

    shadow = api.app.state.service.models.shadow
    deadline = time.monotonic() + 30
    while shadow.scored < CUSTOMERS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (shadow.scored, shadow.dropped, shadow.last_error) == (CUSTOMERS, 0, None)

    samples = api.metrics()
    shadow_series = sum(
        value
        for (name, labels), value in samples.items()
        if name == "bankrisk_predictions_total" and ("role", "shadow") in labels
    )
    assert shadow_series == CUSTOMERS
    # The PD histogram counts answered customers only.
    assert samples[("bankrisk_probability_of_default_count", ())] == CUSTOMERS
    assert samples[("bankrisk_shadow_dropped_total", ())] == 0

    _flush(api)
    assert _roles(url) == {("champion", "7"): CUSTOMERS, ("shadow", "8"): CUSTOMERS}
    # The shadow's rows are its own scores of the same customers.
    rows = _logged(url)
    champion = {r["customer_id"]: r for r in rows if r["model_role"] == "champion"}
    shadow_rows = {r["customer_id"]: r for r in rows if r["model_role"] == "shadow"}
    assert set(shadow_rows) == {c["customer_id"] for c in customers}
    for customer_id, row in shadow_rows.items():
        assert row["LIMIT_BAL"] == champion[customer_id]["LIMIT_BAL"]
    assert any(row["pd"] != champion[i]["pd"] for i, row in shadow_rows.items())


def test_shadow_that_falls_behind_drops_and_counts(
    challenger_bundle: ModelBundle, customers: list[dict[str, Any]]
) -> None:
    """Rows beyond the shadow's bound are dropped at once and counted; memory stays bounded;
    the rows kept are scored once the event loop is free."""
    metrics = Metrics()
    shadow = Shadow(
        Scorer(challenger_bundle, "shadow"),
        metrics,
        AfterScoring(metrics.count_scored),
        max_rows=100,
    )
    row = [float(v) for k, v in customers[0].items() if k != "customer_id"]

    async def burst() -> tuple[int, int]:
        kept = sum(shadow.submit(f"r{i}", [row], [f"C{i}"]) for i in range(250))
        held = shadow.held
        while shadow.held:
            await asyncio.sleep(0)
        return kept, held

    kept, held = asyncio.run(burst())
    assert (kept, held) == (100, 100)
    assert (shadow.scored, shadow.dropped) == (100, 150)
    assert metrics.shadow_dropped._value.get() == 150


# ---- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"BANKRISK_CANARY_PERCENT": "101"}, "canary_percent"),
        ({"BANKRISK_CANARY_PERCENT": "-1"}, "canary_percent"),
        ({"BANKRISK_CHALLENGER_MODE": "mirror"}, "challenger_mode"),
        ({"BANKRISK_MODEL_SOURCE": "mlflow-registry://host/no-alias"}, "model_source"),
    ],
)
def test_bad_challenger_settings_name_the_field(
    env: dict[str, str], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_bad_canary_percent_stops_serve_with_one_line(bundle_dir: Path) -> None:
    from helpers.processes import BANKRISK, clean_env

    done = subprocess.run(
        [str(BANKRISK), "serve", "--model-dir", str(bundle_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(BANKRISK_CANARY_PERCENT="150"),
        check=False,
    )
    assert done.returncode != 0
    assert "BANKRISK_CANARY_PERCENT" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_broken_challenger_stops_serve_with_one_critical_line(
    bundle_dir: Path, tmp_path: Path
) -> None:
    from helpers.processes import BANKRISK, clean_env

    done = subprocess.run(
        [str(BANKRISK), "serve", "--model-dir", str(bundle_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(BANKRISK_CHALLENGER_DIR=str(tmp_path / "missing")),
        check=False,
    )
    assert done.returncode == 2
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    critical = [line for line in lines if line["severity"] == "CRITICAL"]
    assert len(critical) == 1
    assert critical[0]["message"].startswith("cannot serve: BANKRISK_CHALLENGER_DIR: ")
    assert "missing" in critical[0]["message"]
    assert "Traceback" not in done.stderr


def test_bucket_spreads_ids_evenly() -> None:
    """About 1% of 20,000 ids in each percent of buckets (within 0.3 points)."""
    shares = Counter(bucket(f"C-{i:06d}") * 100 // 10_000 for i in range(20_000))
    assert max(abs(count / 20_000 - 0.01) for count in shares.values()) < 0.003
