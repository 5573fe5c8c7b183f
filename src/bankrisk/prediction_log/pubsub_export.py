"""The prediction log's rows published to Pub/Sub, one JSON message per row, for a BigQuery
subscription to write into the BigQuery `predictions` table (docs/drift-job.md).

Why an exporter and not the service: the service's hot path stays as it is (a Pub/Sub outage
or slowness cannot touch scoring), and the log is the record: what is not yet published is
still in the log, so an outage delays BigQuery, it loses nothing.

- **The table's schema is the log's** (`bigquery_schema`): every `predictions` column, the row
  `id` included, with its BigQuery type; a message (`message_of`) has exactly these fields, so
  the subscription writes it with `--use-table-schema`. A TIMESTAMP is sent as microseconds
  since the Unix epoch (an integer, exact), a non-finite float as null.
- **The watermark**: the largest row id published, per destination, in the table
  `export_watermarks` of the log's own database (so a Cloud Run job keeps no local state).
  Rows after it are read in id order, a batch at a time, published, and the watermark moves to
  the batch's last id only once Pub/Sub has confirmed every message of the batch. A failure
  raises `ExportError` and leaves the watermark where it was: the next run publishes the batch
  again. Delivery is at-least-once: BigQuery may hold a row twice, and the drift query keeps one
  copy per row id (`monitoring.drift_sql`, `dedupe`).
- **Settling**: rows logged in the last `settle_seconds` are left for the next run, and the
  batch stops at the first of them. On PostgreSQL with several service instances, a row id is
  taken when a writer's insert starts but seen when it commits, so a smaller id can appear after
  a larger one was read; waiting until rows are a minute old (inserts commit within seconds)
  keeps the watermark from passing one.

The Pub/Sub client (`google-cloud-pubsub`, the `pubsub` extra) is imported only by
`PubSubPublisher`; the rest needs SQLAlchemy (the log) only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from bankrisk.errors import BankRiskError, MissingExtraError, UsageError
from bankrisk.prediction_log.store import predictions, short_error

PUBSUB_EXTRA = "pubsub"
EXPORT_COMMAND = "bankrisk monitor export"
# pubsub://PROJECT/TOPIC: Google Cloud's rules for a project id and a topic name.
DESTINATION = re.compile(
    r"^pubsub://(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/(?P<topic>[A-Za-z][A-Za-z0-9._~+%-]{2,254})$"
)


class ExportError(BankRiskError):
    """Rows could not be read, published or recorded; the watermark did not move."""


watermark_metadata = MetaData()
export_watermarks = Table(
    "export_watermarks",
    watermark_metadata,
    Column("destination", String(300), primary_key=True),
    Column("last_id", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),  # ISO 8601, UTC
)


# ---- the BigQuery table and the messages -------------------------------------------------------


def _bigquery_type(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, Integer):
        return "INTEGER"
    if isinstance(kind, Float):
        return "FLOAT"
    if isinstance(kind, DateTime):
        return "TIMESTAMP"
    if isinstance(kind, String | Text):
        return "STRING"
    raise TypeError(f"predictions.{column.name}: no BigQuery type for {kind!r}")


def bigquery_schema() -> list[dict[str, str]]:
    """The BigQuery JSON schema of the `predictions` table: the log's columns, in order."""
    return [
        {
            "name": column.name,
            "type": _bigquery_type(column),
            "mode": "NULLABLE" if column.nullable else "REQUIRED",
        }
        for column in predictions.columns
    ]


def _microseconds(value: datetime) -> int:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def message_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """One logged row as the message's JSON object: the BigQuery table's columns."""
    out: dict[str, Any] = {}
    for field in bigquery_schema():
        value = row[field["name"]]
        if value is None:
            out[field["name"]] = None
        elif field["type"] == "TIMESTAMP":
            out[field["name"]] = _microseconds(value)
        elif field["type"] == "FLOAT":
            number = float(value)
            out[field["name"]] = number if math.isfinite(number) else None
        elif field["type"] == "INTEGER":
            out[field["name"]] = int(value)
        else:
            out[field["name"]] = str(value)
    return out


def encode(row: Mapping[str, Any]) -> bytes:
    return json.dumps(message_of(row), separators=(",", ":"), allow_nan=False).encode()


# ---- publishing ------------------------------------------------------------------------------


class Publisher(Protocol):
    """Where messages go. `publish_all` returns once every message is confirmed, else raises
    ExportError."""

    destination: str

    def publish_all(self, messages: Sequence[bytes]) -> None: ...


@dataclass(frozen=True)
class Destination:
    project: str
    topic: str

    @property
    def url(self) -> str:
        return f"pubsub://{self.project}/{self.topic}"

    @property
    def path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"


def parse_destination(text: str) -> Destination:
    """`pubsub://PROJECT/TOPIC`; UsageError naming --to otherwise."""
    match = DESTINATION.match(text.strip())
    if match is None:
        raise UsageError(
            f"--to {text!r}: expected pubsub://PROJECT/TOPIC (a Google Cloud project id and "
            "a Pub/Sub topic name)"
        )
    return Destination(match["project"], match["topic"])


class PubSubPublisher:
    """google-cloud-pubsub's publisher on one topic. It talks to the emulator when
    PUBSUB_EMULATOR_HOST is set, else to Pub/Sub with the application default credentials.
    Each publish is retried on transient errors for at most `timeout` seconds."""

    def __init__(self, destination: Destination, timeout: float = 30.0) -> None:
        try:
            from google.api_core import retry
            from google.cloud import pubsub_v1
        except ModuleNotFoundError as exc:
            raise MissingExtraError(EXPORT_COMMAND, PUBSUB_EXTRA, exc.name or "google") from None
        import google.auth.exceptions

        self.destination = destination.url
        self._path = destination.path
        self._timeout = timeout
        self._retry = retry.Retry(initial=0.1, maximum=2.0, multiplier=2.0, timeout=timeout)
        try:
            self._client = pubsub_v1.PublisherClient(
                batch_settings=pubsub_v1.types.BatchSettings(max_messages=500, max_latency=0.05)
            )
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise ExportError(
                f"cannot publish to {self.destination}: no Google credentials ({exc}); "
                "run where the application default credentials are set, or set "
                "PUBSUB_EMULATOR_HOST for the emulator"
            ) from None

    def publish_all(self, messages: Sequence[bytes]) -> None:
        from concurrent.futures import TimeoutError as FutureTimeout

        from google.api_core import exceptions

        futures = [
            self._client.publish(self._path, data, retry=self._retry, timeout=self._timeout)
            for data in messages
        ]
        try:
            for future in futures:
                future.result(timeout=self._timeout + 5)
        except exceptions.NotFound:
            raise ExportError(
                f"cannot publish to {self.destination}: the topic {self._path} does not exist "
                "(deploy/drift_job.sh creates it)"
            ) from None
        except (exceptions.GoogleAPIError, FutureTimeout) as exc:
            text = " ".join(str(exc).split()) or type(exc).__name__
            raise ExportError(
                f"cannot publish to {self.destination}: {text[:300]}; nothing was recorded, "
                "the next run publishes these rows again"
            ) from None
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._client.stop()


# ---- the export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """One run: rows published (ids first_id..last_id), the watermark before and after, and
    how many rows were left for the next run because they were logged too recently."""

    destination: str
    published: int
    first_id: int | None
    last_id: int | None
    watermark_before: int
    watermark: int
    left_settling: bool


def read_watermark(engine: Engine, destination: str) -> int:
    """The largest row id published to `destination` (0: none yet)."""
    try:
        watermark_metadata.create_all(engine)
        with engine.connect() as connection:
            found = connection.execute(
                select(export_watermarks.c.last_id).where(
                    export_watermarks.c.destination == destination
                )
            ).scalar_one_or_none()
    except SQLAlchemyError as exc:
        raise ExportError(f"cannot read the export watermark: {short_error(exc)}") from None
    return 0 if found is None else int(found)


def _record(engine: Engine, destination: str, last_id: int, now: datetime) -> None:
    stamp = now.astimezone(UTC).isoformat()
    try:
        with engine.begin() as connection:
            updated = connection.execute(
                export_watermarks.update()
                .where(export_watermarks.c.destination == destination)
                .values(last_id=last_id, updated_at=stamp)
            )
            if updated.rowcount == 0:
                connection.execute(
                    export_watermarks.insert().values(
                        destination=destination, last_id=last_id, updated_at=stamp
                    )
                )
    except SQLAlchemyError as exc:
        raise ExportError(
            f"published up to row {last_id} but could not record the watermark "
            f"({short_error(exc)}): the next run publishes those rows again"
        ) from None


def export_predictions(
    engine: Engine,
    publisher: Publisher,
    *,
    batch_size: int = 500,
    settle_seconds: float = 60.0,
    max_rows: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportResult:
    """Publish the logged rows after the watermark, in id order, batch by batch, moving the
    watermark after each confirmed batch (see the module docstring)."""
    if batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {batch_size}")
    if not math.isfinite(settle_seconds) or settle_seconds < 0:
        raise UsageError(f"--settle-seconds must be >= 0, got {settle_seconds}")
    if max_rows is not None and max_rows < 1:
        raise UsageError(f"--max-rows must be >= 1, got {max_rows}")
    destination = publisher.destination
    before = watermark = read_watermark(engine, destination)
    published, first_id, settling = 0, None, False
    while max_rows is None or published < max_rows:
        limit = batch_size if max_rows is None else min(batch_size, max_rows - published)
        cutoff = now() - timedelta(seconds=settle_seconds)
        query = (
            select(predictions)
            .where(predictions.c.id > watermark)
            .order_by(predictions.c.id)
            .limit(limit)
        )
        try:
            with engine.connect() as connection:
                rows = [dict(r._mapping) for r in connection.execute(query)]
        except SQLAlchemyError as exc:
            raise ExportError(f"cannot read the prediction log: {short_error(exc)}") from None
        ready: list[dict[str, Any]] = []
        for row in rows:
            logged = row["time"]
            logged = logged.replace(tzinfo=UTC) if logged.tzinfo is None else logged
            if logged > cutoff:
                settling = True
                break
            ready.append(row)
        if not ready:
            break
        publisher.publish_all([encode(row) for row in ready])
        watermark = int(ready[-1]["id"])
        _record(engine, destination, watermark, now())
        first_id = int(ready[0]["id"]) if first_id is None else first_id
        published += len(ready)
        if settling or len(rows) < limit:
            break
    return ExportResult(
        destination=destination,
        published=published,
        first_id=first_id,
        last_id=watermark if published else None,
        watermark_before=before,
        watermark=watermark,
        left_settling=settling,
    )
