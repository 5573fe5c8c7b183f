"""`bankrisk monitor export --to pubsub://PROJECT/TOPIC` against the real Pub/Sub emulator
(started once for the module): every logged row delivered once as a JSON message in the
BigQuery table's schema, the watermark, re-runs publish nothing new, recent rows settle, and an
unreachable Pub/Sub or a missing topic is one clear error that leaves the watermark alone."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bankrisk.cli import app
from bankrisk.prediction_log.pubsub_export import (
    Destination,
    ExportError,
    PubSubPublisher,
    bigquery_schema,
    export_predictions,
    read_watermark,
)
from bankrisk.prediction_log.store import PredictionStore, open_store
from helpers.log_rows import prediction_row
from helpers.processes import free_port
from helpers.pubsub_emulator import PubSubEmulator, pubsub_emulator

PROJECT = "bankrisk-test"
START = datetime(2026, 3, 1, tzinfo=UTC)
runner = CliRunner()
# "Nothing left to pull" is asked with return_immediately (deprecated for Pub/Sub, answered at
# once by the emulator): a blocking pull would wait out its deadline each time.
pytestmark = pytest.mark.filterwarnings("ignore:The return_immediately flag:DeprecationWarning")


@pytest.fixture(scope="module")
def emulator() -> Iterator[PubSubEmulator]:
    with pubsub_emulator(PROJECT) as running:
        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = running.host
        try:
            yield running
        finally:
            if previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous


@pytest.fixture
def topic(emulator: PubSubEmulator, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh topic with a pull subscription standing in for the BigQuery subscription."""
    from google.cloud import pubsub_v1

    name = f"predictions-{request.node.name.replace('_', '-')[:40]}-{time.monotonic_ns()}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.topic_path(PROJECT, name)
    subscription = subscriber.subscription_path(PROJECT, name + "-sub")
    publisher.create_topic(request={"name": topic_path})
    subscriber.create_subscription(request={"name": subscription, "topic": topic_path})
    yield {"topic": name, "subscription": subscription, "url": f"pubsub://{PROJECT}/{name}"}
    subscriber.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PredictionStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    assert opened is not None
    yield opened
    opened.close()


def pull_all(subscription: str, expected: int, within: float = 20.0) -> list[dict[str, Any]]:
    """Every message of the subscription (acknowledged), waiting for `expected` of them; then
    one more immediate pull that must find nothing left."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    try:
        while len(got) < expected and time.monotonic() < deadline:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 1000}, timeout=10
            )
            if response.received_messages:
                got += [json.loads(m.message.data) for m in response.received_messages]
                subscriber.acknowledge(
                    request={
                        "subscription": subscription,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
        left = subscriber.pull(
            request={
                "subscription": subscription,
                "max_messages": 1000,
                "return_immediately": True,
            },
            timeout=10,
        )
        assert not left.received_messages, "more messages than rows"
    finally:
        subscriber.close()
    return got


def log_rows(store: PredictionStore, first: int, count: int, **extra: Any) -> None:
    store.insert_predictions(
        [
            prediction_row(i, when=START + timedelta(minutes=i), **extra)
            for i in range(first, first + count)
        ]
    )


def check_schema(message: dict[str, Any]) -> None:
    schema = bigquery_schema()
    assert list(message) == [f["name"] for f in schema]
    kinds = {"INTEGER": int, "FLOAT": float, "STRING": str, "TIMESTAMP": int}
    for field in schema:
        value = message[field["name"]]
        if value is None:
            assert field["mode"] == "NULLABLE", field
        else:
            assert type(value) is kinds[field["type"]], (field, value)


def test_every_row_is_delivered_once_in_the_table_schema(
    topic: dict[str, str], store: PredictionStore
) -> None:
    log_rows(store, 0, 40)
    log_rows(store, 40, 3, LIMIT_BAL=None, PAY_0=float("nan"))  # missing inputs: null
    publisher = PubSubPublisher(Destination(PROJECT, topic["topic"]), timeout=20)
    try:
        result = export_predictions(store.engine, publisher, batch_size=7, settle_seconds=0)
    finally:
        publisher.close()
    assert (result.published, result.first_id, result.last_id) == (43, 1, 43)
    assert (result.watermark_before, result.watermark) == (0, 43)
    assert read_watermark(store.engine, topic["url"]) == 43

    messages = pull_all(topic["subscription"], 43)
    assert sorted(m["id"] for m in messages) == list(range(1, 44))  # each row exactly once
    for message in messages:
        check_schema(message)
    by_id = {m["id"]: m for m in messages}
    first = by_id[1]
    assert first["request_id"] == "req-0" and first["model_role"] == "champion"
    assert first["time"] == int(START.timestamp()) * 1_000_000  # microseconds since the epoch
    assert first["LIMIT_BAL"] == 10_000.0 and first["pd"] == pytest.approx(0.01)
    assert json.loads(first["reason_codes"]) == [{"code": "R01", "text": "late"}]
    assert by_id[43]["LIMIT_BAL"] is None and by_id[43]["PAY_0"] is None


def test_a_second_run_publishes_only_rows_logged_since(
    topic: dict[str, str], store: PredictionStore
) -> None:
    log_rows(store, 0, 10)
    destination = Destination(PROJECT, topic["topic"])
    publisher = PubSubPublisher(destination, timeout=20)
    try:
        assert export_predictions(store.engine, publisher, settle_seconds=0).published == 10
        assert len(pull_all(topic["subscription"], 10)) == 10
        again = export_predictions(store.engine, publisher, settle_seconds=0)
        assert (again.published, again.watermark_before, again.watermark) == (0, 10, 10)
        assert pull_all(topic["subscription"], 0, within=0) == []
        log_rows(store, 10, 5)
        more = export_predictions(store.engine, publisher, settle_seconds=0)
    finally:
        publisher.close()
    assert (more.published, more.first_id, more.last_id) == (5, 11, 15)
    assert sorted(m["id"] for m in pull_all(topic["subscription"], 5)) == [11, 12, 13, 14, 15]


def test_rows_logged_within_the_settle_time_wait_for_the_next_run(
    topic: dict[str, str], store: PredictionStore
) -> None:
    log_rows(store, 0, 4)
    store.insert_predictions([prediction_row(4, when=datetime.now(UTC))])  # just logged
    log_rows(store, 5, 2)  # older times, later ids: they wait behind it
    publisher = PubSubPublisher(Destination(PROJECT, topic["topic"]), timeout=20)
    try:
        first = export_predictions(store.engine, publisher, settle_seconds=60)
        assert (first.published, first.watermark, first.left_settling) == (4, 4, True)
        later = export_predictions(
            store.engine,
            publisher,
            settle_seconds=60,
            now=lambda: datetime.now(UTC) + timedelta(minutes=2),
        )
    finally:
        publisher.close()
    assert (later.published, later.first_id, later.watermark) == (3, 5, 7)
    assert sorted(m["id"] for m in pull_all(topic["subscription"], 7)) == list(range(1, 8))


def test_the_command_publishes_and_says_what_it_did(
    topic: dict[str, str], store: PredictionStore
) -> None:
    log_rows(store, 0, 12)
    args = ["monitor", "export", "--to", topic["url"], "--log", store.url, "--settle-seconds", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert f"published 12 rows (ids 1..12) to {topic['url']}; watermark 0 -> 12" in result.stdout
    assert len(pull_all(topic["subscription"], 12)) == 12
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "published 0 rows to" in result.stdout


def test_a_missing_topic_is_one_clear_line_and_the_watermark_stays(
    emulator: PubSubEmulator, store: PredictionStore
) -> None:
    log_rows(store, 0, 3)
    url = f"pubsub://{PROJECT}/no-such-topic"
    result = runner.invoke(
        app, ["monitor", "export", "--to", url, "--log", store.url, "--settle-seconds", "0"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert read_watermark(store.engine, url) == 0


def test_an_unreachable_pubsub_is_an_error_and_the_watermark_does_not_move(
    emulator: PubSubEmulator, store: PredictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_rows(store, 0, 5)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nobody listens
    destination = Destination(PROJECT, "predictions")
    started = time.monotonic()
    publisher = PubSubPublisher(destination, timeout=2)
    try:
        with pytest.raises(ExportError, match=r"cannot publish to pubsub://bankrisk-test/"):
            export_predictions(store.engine, publisher, settle_seconds=0)
    finally:
        publisher.close()
    assert time.monotonic() - started < 20
    assert read_watermark(store.engine, destination.url) == 0
    result = runner.invoke(
        app,
        ["monitor", "export", "--to", destination.url, "--log", store.url, "--timeout", "2"],
    )
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot publish to"), result.stderr
    assert read_watermark(store.engine, destination.url) == 0


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("bigquery://p/t", "expected pubsub://PROJECT/TOPIC"),
        ("pubsub://UPPER-project/topic", "expected pubsub://PROJECT/TOPIC"),
        ("pubsub://my-project", "expected pubsub://PROJECT/TOPIC"),
    ],
)
def test_a_bad_destination_is_one_line(to: str, message: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["monitor", "export", "--to", to, "--log", f"sqlite:///{tmp_path / 'l.db'}"]
    )
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
