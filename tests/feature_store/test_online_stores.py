"""Scoring by id on Feast's Google Cloud online stores and on Redis, each a real server started
here (the Bigtable and Datastore emulators; redis-server standing in for Memorystore), with
the project's own feature_store.<store>.yaml. For each store: `bankrisk features materialize`
(the CLI, a real process) loads the 24,000 shared customers; every field of every customer
reads back exactly, with its event time; `POST /v1/predict/customer/{id}` answers all 24,000
exactly as `/v1/predict` answers their fields; a record older than the TTL is stale and
warned about; optional fields stored without a value come back as none; a store that hangs
or is gone is a 503 naming it, and the service recovers when the store answers again."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest

from bankrisk.config import Settings
from bankrisk.feature_store.materialize import materialize
from bankrisk.feature_store.online import OnlineFeatures
from bankrisk.schema import FIELD_NAMES
from helpers.answers import (
    asgi_app,
    asgi_entry,
    asgi_post,
    customers_of,
    features_ready,
    post_all,
)
from helpers.api import Api
from helpers.feature_store import ONLINE_STORES, head_csv, new_store_repo, start_store_server
from helpers.gcp_emulators import BackgroundServer
from helpers.processes import BANKRISK, clean_env, server

BY_ID = "/v1/predict/customer/{}"
REQUEST_ID = re.compile(rb'"request_id":"[^"]*"')


@dataclass(frozen=True)
class Store:
    name: str
    server: BackgroundServer
    env: dict[str, str]
    repo: Path  # the 24,000 shared customers, materialized at `as_of`
    as_of: datetime
    materialize_output: str


@pytest.fixture(scope="module", params=ONLINE_STORES)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_csv: Path
) -> Iterator[Store]:
    """One store's server, the environment pointing there (in this process too), and the
    shared customers loaded by the real CLI; stopped after this module's tests of it."""
    name: str = request.param
    emulator, env = start_store_server(name)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in env.items():
                patch.setenv(variable, value)
            repo = new_store_repo(tmp_path_factory.mktemp(f"{name}-repo"), name)
            as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
            command = [str(BANKRISK), "features", "materialize", "--repo", str(repo)]
            loaded = subprocess.run(
                [*command, "--data", str(shared_csv), "--as-of", as_of.isoformat()],
                capture_output=True,
                text=True,
                env=clean_env(**env),
                timeout=300,
                check=False,
            )
            assert loaded.returncode == 0, loaded.stdout + loaded.stderr
            yield Store(name, emulator, env, repo, as_of, loaded.stdout)
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def shared_rows(shared_csv: Path) -> pd.DataFrame:
    return pd.read_csv(shared_csv)


@pytest.fixture(scope="module")
def predict_answers(bundle_dir: Path, shared_rows: pd.DataFrame) -> dict[str, bytes]:
    """Every shared customer's `/v1/predict` answer to its 23 fields (request id blanked),
    in-process on the app `bankrisk serve` runs; computed once for the three stores."""
    entry = asgi_entry(asgi_app(bundle_dir, None))
    customers = list(customers_of(shared_rows))

    answers = asyncio.run(post_all(entry, [("/v1/predict", orjson.dumps(c)) for c in customers]))
    assert {status for status, _ in answers} == {200}
    return {
        c["customer_id"]: REQUEST_ID.sub(b'"request_id":""', body)
        for c, (_, body) in zip(customers, answers, strict=True)
    }


def test_the_cli_loaded_every_customer(store: Store) -> None:
    assert f"24,000 customers as of {store.as_of.isoformat()}" in store.materialize_output


def test_by_id_reads_every_field_and_answers_as_predict_for_all_24000(
    store: Store, bundle_dir: Path, predict_answers: dict[str, bytes], shared_rows: pd.DataFrame
) -> None:
    """In-process (ASGI calls, as tests/helpers/answers.py makes them: an HTTP client would
    cost more than the scoring), many requests at a time (`post_all`), so the service batches
    its store reads as under load. The reads are recorded on their way: every field of every
    customer, and its event time, is the data file's."""
    app = asgi_app(bundle_dir, store.repo)
    entry = asgi_entry(app)
    features: OnlineFeatures = app.state.service.features
    ids = list(predict_answers)
    read: dict[str, Any] = {}
    read_many = features.read_many

    def recorded(batch: list[str]) -> list[Any]:
        found = read_many(batch)
        read.update(zip(batch, found, strict=True))
        return found

    features.read_many = recorded  # type: ignore[method-assign]

    async def by_id() -> tuple[list[tuple[int, bytes]], tuple[int, bytes]]:
        await features_ready(app)
        answers = await post_all(entry, [(BY_ID.format(i), b"") for i in ids])
        return answers, await asgi_post(entry, BY_ID.format("no-such-customer"))

    answers, unknown = asyncio.run(by_id())
    features.close()

    different = [
        (customer_id, status, body[:200])
        for customer_id, (status, body) in zip(ids, answers, strict=True)
        if status != 200 or REQUEST_ID.sub(b'"request_id":""', body) != predict_answers[customer_id]
    ]
    assert len(answers) == 24_000
    assert different == [], f"{len(different)} differ, e.g. {different[:3]}"
    assert unknown[0] == 404, unknown
    expected = shared_rows[list(FIELD_NAMES)].astype(float).to_dict("records")
    for customer_id, fields in zip(ids, expected, strict=True):
        found = read[customer_id]
        assert found.values == fields, customer_id
        assert found.event_time == store.as_of and not found.stale, customer_id


def test_a_record_older_than_the_ttl_gets_the_stale_warning(
    store: Store, make_api: Any, tmp_path: Path, shared_csv: Path, shared_rows: pd.DataFrame
) -> None:
    """Customers of their own ids (the shared ones stay as loaded), recorded 97 days ago
    against the view's 35-day TTL: each store gives the old event time back, and the service
    judges them stale (BANKRISK_STALE_FEATURES=warn here, so that the answer is otherwise
    /v1/predict's; the policies themselves are tests/serving's)."""
    recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(days=97)
    old = pd.read_csv(head_csv(shared_csv, 3, tmp_path / "head.csv"))
    old["ID"] = [f"old-{i}" for i in old["ID"]]
    old.to_csv(tmp_path / "old.csv", index=False)
    materialize(new_store_repo(tmp_path / "repo", store.name), tmp_path / "old.csv", recorded)

    api: Api = make_api(Settings(feature_repo=tmp_path / "repo", stale_features="warn"))
    stale = api.client.post(BY_ID.format("old-2"))
    fields = {**shared_rows.iloc[1][list(FIELD_NAMES)].to_dict(), "customer_id": "old-2"}
    direct = api.client.post("/v1/predict", json=fields)
    api.app.state.service.features.close()

    assert stale.status_code == direct.status_code == 200, stale.text
    body = stale.json()
    (warning,) = [w for w in body["warnings"] if w.startswith("features recorded ")]
    body["warnings"].remove(warning)
    assert warning.startswith(f"features recorded {recorded.isoformat()}, 97.0 days ago")
    assert "older than the feature store's TTL of 35.0 days" in warning
    assert {**body, "request_id": ""} == {**direct.json(), "request_id": ""}


def test_optional_fields_stored_without_a_value_come_back_as_none(
    store: Store, tmp_path: Path, shared_csv: Path
) -> None:
    """A file without SEX and MARRIAGE, AGE empty for every third customer (ids of their own):
    each store gives no value back, whether it stores a null or nothing."""
    frame = pd.read_csv(head_csv(shared_csv, 12, tmp_path / "head.csv"))
    frame = frame.drop(columns=["SEX", "MARRIAGE"]).astype({"AGE": "Int64"})
    frame.loc[::3, "AGE"] = pd.NA
    frame["ID"] = [f"sparse-{i}" for i in frame["ID"]]
    frame.to_csv(tmp_path / "sparse.csv", index=False)
    repo = new_store_repo(tmp_path / "repo", store.name)
    materialize(repo, tmp_path / "sparse.csv")

    features = OnlineFeatures(repo)
    try:
        found = features.read_many([str(i) for i in frame["ID"]])
    finally:
        features.close()
    for (_, row), result in zip(frame.iterrows(), found, strict=True):
        assert result is not None and not isinstance(result, Exception), row["ID"]
        assert result.values is not None
        assert result.values["SEX"] is None and result.values["MARRIAGE"] is None
        assert result.values["AGE"] == (None if pd.isna(row["AGE"]) else float(row["AGE"]))
        assert result.values["LIMIT_BAL"] == float(row["LIMIT_BAL"])


def test_one_read_answers_each_id_asked_for_in_order_repeats_and_unknowns_too(
    store: Store, shared_rows: pd.DataFrame
) -> None:
    """The service reads the ids that arrive together in one read: one asked for twice (two
    clients asking for one customer) is answered twice, an unknown one with None, in order."""
    known = [str(i) for i in shared_rows["ID"][:3]]
    asked = [known[0], "no-such-customer", known[1], known[0], known[2], known[1]]
    features = OnlineFeatures(store.repo)
    try:
        found = features.read_many(asked)
    finally:
        features.close()
    limits = dict(zip(map(str, shared_rows["ID"]), shared_rows["LIMIT_BAL"], strict=True))
    assert found[1] is None
    for customer_id, result in zip(asked, found, strict=True):
        if customer_id in limits:
            assert result is not None and not isinstance(result, Exception), customer_id
            assert result.values["LIMIT_BAL"] == float(limits[customer_id])


def test_a_store_that_hangs_or_is_gone_is_503_and_the_service_recovers(
    store: Store, bundle_dir: Path
) -> None:
    """A real `bankrisk serve`. Paused (SIGSTOP: connections accepted, nothing answered), the
    store's reads give up after their bound instead of the clients' minutes of retries;
    resumed, the same service scores again. Stopped, it is a 503 too. Runs last for its store:
    the store is gone after it."""
    env = {**store.env, "BANKRISK_FEATURE_REPO": str(store.repo)}
    with server(bundle_dir, **env) as running:

        def by_id() -> httpx.Response:
            return httpx.post(running.url + BY_ID.format(17), timeout=60)

        before = by_id()
        store.server.pause()
        try:
            hung = by_id()
        finally:
            store.server.resume()
        after = by_id()
        store.server.stop()
        gone = by_id()

    assert before.status_code == after.status_code == 200, before.text + after.text
    assert {**before.json(), "request_id": ""} == {**after.json(), "request_id": ""}
    for response in (hung, gone):
        assert response.status_code == 503, response.text
        detail = response.json()["detail"]
        assert detail.startswith("feature store read failed: "), detail
        assert f"({store.name} online store; a read gives up after 2 s)" in detail, detail
