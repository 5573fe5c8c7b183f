"""POST /v1/predict/customer/{id}: the 23 fields read from a real Feast store (the shared
data materialized into a temporary repository) and answered exactly as /v1/predict answers
the same fields; unknown ids 404, a missing or broken store 503, never a 500;
features older than the TTL are held for review (or warned about, or refused, by setting);
no store configured is 404."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from bankrisk.config import Settings
from bankrisk.feature_store import FEATURE_VIEW
from bankrisk.schema import FIELD_NAMES
from helpers.api import Api, to_customer
from helpers.feature_store import head_csv, materialized, new_repo
from helpers.processes import served

BY_ID = "/v1/predict/customer/{}"


@pytest.fixture(scope="module")
def shared_rows(shared_csv: Path) -> pd.DataFrame:
    return pd.read_csv(shared_csv).set_index("ID")


@pytest.fixture(scope="module")
def store_repo(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> Path:
    """The 24,000 shared customers materialized now (~30 s, once for this module)."""
    return materialized(tmp_path_factory.mktemp("feature-repo"), shared_csv).snapshot.parents[2]


def fields_of(rows: pd.DataFrame, customer_id: int) -> dict[str, Any]:
    row = rows.loc[customer_id, list(FIELD_NAMES)].to_numpy(dtype=np.float64)
    return to_customer(row, str(customer_id))


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    assert body.pop("request_id")
    return body


def test_200_random_customers_answer_exactly_as_predict(
    make_api: Callable[..., Api], store_repo: Path, shared_rows: pd.DataFrame
) -> None:
    api = make_api(Settings(feature_repo=store_repo))
    ids = np.random.default_rng(12).choice(shared_rows.index.to_numpy(), 200, replace=False)
    for customer_id in ids:
        by_id = api.client.post(BY_ID.format(customer_id))
        direct = api.client.post("/v1/predict", json=fields_of(shared_rows, customer_id))
        assert by_id.status_code == direct.status_code == 200, by_id.text
        assert without_request_id(by_id.json()) == without_request_id(direct.json())
        assert by_id.json()["customer_id"] == str(customer_id)


def test_log_line_metrics_and_prediction_log_as_predict(
    make_api: Callable[..., Api], store_repo: Path, shared_rows: pd.DataFrame, tmp_path: Path
) -> None:
    from bankrisk.prediction_log.store import open_store

    url = f"sqlite:///{tmp_path / 'log.db'}"
    api = make_api(Settings(feature_repo=store_repo), prediction_log=url)
    answer = api.client.post(BY_ID.format(17)).json()

    line = api.new_log_lines()[-1]
    assert line["route"] == "/v1/predict/customer/{customer_id}" and line["status"] == 200
    assert line["message"].endswith(f"prob={answer['probability_of_default']:.4f}")
    assert line["decision"] == answer["decision"] and line["records"] == 1
    assert not set(FIELD_NAMES) & set(line)  # no feature values in the log line
    metrics = api.metrics()
    decision = (("decision", answer["decision"]), ("grade", answer["risk_grade"]))
    assert any(k[0] == "bankrisk_predictions_total" and set(decision) <= set(k[1]) for k in metrics)
    assert api.app.state.service.log_writer.flush(10)
    store = open_store(url)
    assert store is not None
    try:
        (row,) = store.read_predictions()
    finally:
        store.close()
    assert row["customer_id"] == "17" and row["request_id"] == answer["request_id"]
    expected = fields_of(shared_rows, 17)
    assert {n: row[n] for n in FIELD_NAMES} == {n: float(expected[n]) for n in FIELD_NAMES}
    assert row["pd"] == answer["probability_of_default"]


def test_unknown_customer_is_404(make_api: Callable[..., Api], store_repo: Path) -> None:
    api = make_api(Settings(feature_repo=store_repo))
    response = api.client.post(BY_ID.format("no-such-customer"))
    assert response.status_code == 404
    assert response.json() == {
        "detail": "customer 'no-such-customer' not found in the feature store",
        "errors": [],
    }


def test_an_over_long_id_is_422(make_api: Callable[..., Api], store_repo: Path) -> None:
    response = make_api(Settings(feature_repo=store_repo)).client.post(BY_ID.format("9" * 65))
    assert response.status_code == 422 and "1 to 64 characters" in response.json()["detail"]


def test_auth_applies_as_on_predict(make_api: Callable[..., Api], store_repo: Path) -> None:
    api = make_api(Settings(feature_repo=store_repo, api_keys=("k1",)))
    assert api.client.post(BY_ID.format(1)).status_code == 401
    assert api.client.post(BY_ID.format(1), headers={"X-API-Key": "k1"}).status_code == 200


def test_no_model_is_503_before_the_store_is_read(
    make_api: Callable[..., Api], store_repo: Path
) -> None:
    response = make_api(Settings(feature_repo=store_repo), loaded=False).client.post(
        BY_ID.format(1)
    )
    assert response.status_code == 503 and response.json()["detail"] == "model not loaded"


def test_not_configured_is_404(api: Api) -> None:
    response = api.client.post(BY_ID.format(1))
    assert response.status_code == 404
    assert response.json()["detail"].startswith("feature store not configured: set BANKRISK_")
    assert api.app.state.service.features is None


@pytest.mark.parametrize(
    ("make_repo", "says"),
    [
        (lambda tmp: tmp / "absent", "no such folder"),
        (lambda tmp: tmp, "no feature_store.yaml"),
        (lambda tmp: new_repo(tmp / "empty"), "run `bankrisk features materialize`"),
    ],
    ids=["no-folder", "no-config", "never-materialized"],
)
def test_a_missing_store_is_503_and_logged_at_start(
    make_api: Callable[..., Api], tmp_path: Path, make_repo: Callable[[Path], Path], says: str
) -> None:
    api = make_api(Settings(feature_repo=make_repo(tmp_path)))
    response = api.client.post(BY_ID.format(1))  # waits for the first attempt to open it
    assert response.status_code == 503 and says in response.json()["detail"], response.text
    (warning, request) = api.new_log_lines()
    assert warning["severity"] == "WARNING" and says in warning["message"]
    assert warning["message"].startswith("feature store unavailable: ")
    assert request["status"] == 503
    assert api.client.post("/v1/predict/batch", json={"records": []}).status_code == 422


def test_a_store_that_fails_while_serving_is_503_then_recovers(
    make_api: Callable[..., Api], tmp_path: Path, shared_csv: Path
) -> None:
    data = head_csv(shared_csv, 50, tmp_path / "head.csv")
    repo = materialized(tmp_path / "repo", data).snapshot.parents[2]
    api = make_api(Settings(feature_repo=repo))
    assert api.client.post(BY_ID.format(7)).status_code == 200
    online = sqlite3.connect(repo / "data" / "online.db")
    tables = "select name from sqlite_master where type = 'table'"
    (table,) = [n for (n,) in online.execute(tables) if FEATURE_VIEW in n]
    online.execute(f'alter table "{table}" rename to broken')
    online.commit()

    response = api.client.post(BY_ID.format(7))
    assert response.status_code == 503
    assert response.json()["detail"].startswith("feature store read failed: OperationalError")

    online.execute(f'alter table broken rename to "{table}"')
    online.commit()
    online.close()
    assert api.client.post(BY_ID.format(7)).status_code == 200


STALE_DAYS = 97  # against the repository's TTL of 35 days


@pytest.fixture(scope="module")
def stale_repo(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> tuple[Path, datetime]:
    """The first 50 shared customers, recorded STALE_DAYS ago."""
    folder = tmp_path_factory.mktemp("stale-repo")
    recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(days=STALE_DAYS)
    data = head_csv(shared_csv, 50, folder / "head.csv")
    return materialized(folder / "repo", data, recorded).snapshot.parents[2], recorded


def _stale_and_direct(
    api: Api, shared_rows: pd.DataFrame, customer_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers by id and to the fields, without their request ids."""
    stale = api.client.post(BY_ID.format(customer_id)).json()
    direct = api.client.post("/v1/predict", json=fields_of(shared_rows, customer_id)).json()
    return without_request_id(stale), without_request_id(direct)


def _assert_age_warning(warning: str, recorded: datetime) -> None:
    assert warning.startswith(f"features recorded {recorded.isoformat()}, {STALE_DAYS}.0 days ago")
    assert "older than the feature store's TTL of 35.0 days" in warning


def test_stale_features_are_held_for_review_by_default_and_logged_so(
    make_api: Callable[..., Api],
    stale_repo: tuple[Path, datetime],
    shared_rows: pd.DataFrame,
    tmp_path: Path,
) -> None:
    from bankrisk.prediction_log.store import open_store

    repo, recorded = stale_repo
    url = f"sqlite:///{tmp_path / 'log.db'}"
    api = make_api(Settings(feature_repo=repo), prediction_log=url)
    decided = [3, 5, 8]  # the model declines or approves these (checked below)
    held = set()
    for customer_id in decided:
        held.add(api.client.post(BY_ID.format(customer_id)).json()["request_id"])
        stale, direct = _stale_and_direct(api, shared_rows, customer_id)
        assert direct["decision"] != "review"
        assert stale["decision"] == "review"
        *model_warnings, age, note = stale["warnings"]
        _assert_age_warning(age, recorded)
        assert note.startswith("decision held for review")
        assert model_warnings == direct["warnings"]
        assert {**stale, "decision": direct["decision"], "warnings": direct["warnings"]} == direct
    assert api.app.state.service.log_writer.flush(10)
    store = open_store(url)
    assert store is not None
    try:
        logged = {row["request_id"]: row["decision"] for row in store.read_predictions()}
    finally:
        store.close()
    assert {logged[r] for r in held} == {"review"}  # the record says what was answered


def test_stale_features_with_warn_get_the_models_decision_and_a_warning(
    make_api: Callable[..., Api], stale_repo: tuple[Path, datetime], shared_rows: pd.DataFrame
) -> None:
    repo, recorded = stale_repo
    api = make_api(Settings(feature_repo=repo, stale_features="warn"))
    stale, direct = _stale_and_direct(api, shared_rows, 3)
    _assert_age_warning(stale["warnings"].pop(), recorded)
    assert stale == direct


def test_stale_features_with_refuse_are_409_and_not_scored(
    make_api: Callable[..., Api], stale_repo: tuple[Path, datetime]
) -> None:
    api = make_api(Settings(feature_repo=stale_repo[0], stale_features="refuse"))
    response = api.client.post(BY_ID.format(3))
    assert response.status_code == 409
    detail = response.json()["detail"]
    _assert_age_warning(detail, stale_repo[1])
    assert "not scored (BANKRISK_STALE_FEATURES=refuse)" in detail
    assert not any(k[0] == "bankrisk_predictions_total" for k in api.metrics())


def test_fresh_features_have_no_store_warning(
    make_api: Callable[..., Api], store_repo: Path, shared_rows: pd.DataFrame
) -> None:
    answer = make_api(Settings(feature_repo=store_repo)).client.post(BY_ID.format(3)).json()
    assert not any("feature store" in w for w in answer["warnings"])


def test_openapi_documents_the_route(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    operation = paths["/v1/predict/customer/{customer_id}"]["post"]
    assert {"200", "404", "503"} <= set(operation["responses"])


def test_a_real_server_scores_by_id(
    bundle_dir: Path, store_repo: Path, shared_rows: pd.DataFrame
) -> None:
    with served(bundle_dir, BANKRISK_FEATURE_REPO=str(store_repo)) as url:
        by_id = httpx.post(url + BY_ID.format(24000), timeout=30)
        direct = httpx.post(url + "/v1/predict", json=fields_of(shared_rows, 24000), timeout=30)
        unknown = httpx.post(url + BY_ID.format("C-404"), timeout=30)
    assert by_id.status_code == 200, by_id.text
    assert without_request_id(by_id.json()) == without_request_id(direct.json())
    assert unknown.status_code == 404
