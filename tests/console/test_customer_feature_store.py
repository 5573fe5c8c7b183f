"""The Customer page by id from a real Feast feature store (the project's repository layout,
its SQLite online store): the customer's fields as the store holds them, scored as the core
scores them; an id the store does not hold is a clear message; values older than the TTL say
what the API does with them."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.console.app import create_console
from bankrisk.console.state import ConsoleState
from bankrisk.core.scorer import Scorer
from bankrisk.schema import FIELD_NAMES
from helpers.console import signed_in_client
from helpers.feature_store import head_csv, materialized


@pytest.fixture(scope="module")
def store_rows(
    tmp_path_factory: pytest.TempPathFactory, shared_csv: Path
) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("console-features")
    data = head_csv(shared_csv, 30, folder / "head.csv")
    repo = materialized(folder / "repo", data).snapshot.parents[2]
    return repo, pd.read_csv(data).set_index("ID")


def test_a_customer_is_looked_up_in_the_feature_store(
    store_rows: tuple[Path, pd.DataFrame], console_bundle_dir: Path, tmp_path: Path
) -> None:
    repo, rows = store_rows
    settings = Settings(console_key="k", prediction_log="off", data_dir=tmp_path, feature_repo=repo)
    bundle = ModelBundle.load(console_bundle_dir)
    state = ConsoleState(
        settings, Scorer(bundle), None, bundle, tmp_path / "cache", console_bundle_dir
    )
    customer = int(rows.index[7])
    expected = bundle.score_row(rows.loc[customer, list(FIELD_NAMES)].astype(float).tolist())
    with TestClient(create_console(state), base_url="http://127.0.0.1") as client:
        token = signed_in_client(client, "k")
        found = client.post(
            "/customer",
            data={"source": "id", "customer_id": str(customer), "csrf_token": token},
        )
        unknown = client.post(
            "/customer", data={"source": "id", "customer_id": "99999999", "csrf_token": token}
        )
    assert found.status_code == 200
    page = html.unescape(found.text)
    assert "the feature store" in page
    assert f"{expected.probability * 100:.2f}%" in page
    assert expected.grade in page and expected.decision in page
    assert "No customer '99999999' in the feature store" in html.unescape(unknown.text)
    assert "Traceback" not in found.text + unknown.text


def test_stale_features_say_what_the_api_does_with_them(
    shared_csv: Path, console_bundle_dir: Path, tmp_path: Path
) -> None:
    recorded = datetime.now(UTC) - timedelta(days=97)
    data = head_csv(shared_csv, 5, tmp_path / "head.csv")
    repo = materialized(tmp_path / "repo", data, recorded).snapshot.parents[2]
    bundle = ModelBundle.load(console_bundle_dir)
    pages = {}
    for policy in ("review", "refuse"):
        settings = Settings(
            console_key="k",
            prediction_log="off",
            data_dir=tmp_path,
            feature_repo=repo,
            stale_features=policy,
        )
        state = ConsoleState(
            settings, Scorer(bundle), None, bundle, tmp_path / "cache", console_bundle_dir
        )
        with TestClient(create_console(state), base_url="http://127.0.0.1") as client:
            token = signed_in_client(client, "k")
            form = {"source": "id", "customer_id": "3", "csrf_token": token}
            pages[policy] = html.unescape(client.post("/customer", data=form).text)
    stale = "recorded 97 days ago, longer ago than the feature store's TTL of 35 days"
    assert stale in pages["review"]
    assert "the API answers `review` for them" in pages["review"]
    assert "the API refuses to score them (409)" in pages["refuse"]
