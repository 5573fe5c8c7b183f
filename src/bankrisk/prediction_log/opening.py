"""The prediction log's entry points: `open_writer` for the service, `open_reader` to read.

- `open_writer(settings, on_drop)`: the service's writer (`ProcessLogWriter`), or None when
  BANKRISK_PREDICTION_LOG is `off`. The request path hands it one `ScoredRows` per request;
  a child process writes the rows (`process_writer`).
- `open_reader(url, ...)`: the log at a URL, for monitoring (`read_predictions`,
  `count_predictions`, `upsert_outcomes`, `read_outcomes`, `prune`).
- `open_log(settings)`: the log the settings name, opened without connecting: what
  `bankrisk serve` checks before loading the model (a malformed URL or a missing driver stops
  start-up) and names in its messages; `open_writer(..., store=)` writes it.

The writer process never imports this module (it names the service's settings): it imports
`process_writer`, `rows`, `spool`, `store` and `thread_writer` only. And reading needs only the
`monitor` extra (SQLAlchemy, no orjson): the writer's modules are imported by `open_writer`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bankrisk.prediction_log.store import OFF, PredictionLogError, PredictionStore, open_store

if TYPE_CHECKING:
    from bankrisk.config import Settings
    from bankrisk.prediction_log.process_writer import ProcessLogWriter
    from bankrisk.prediction_log.spool import SpoolLimits

__all__ = ["PredictionLogError", "PredictionStore", "open_log", "open_reader", "open_writer"]


def open_log(settings: Settings) -> PredictionStore | None:
    """The store named by BANKRISK_PREDICTION_LOG (None when `off`), without connecting:
    a store that is down must not stop the service (its tables are created by the writer
    on its first insert). PredictionLogError when the URL is malformed or its driver is
    missing, or pseudonymisation has no salt: that is bad configuration."""
    from bankrisk.config import LOG_FOLDER, default_log_url

    if settings.prediction_log == default_log_url(settings.data_dir):  # SQLite makes no folder
        folder = Path(settings.data_dir, LOG_FOLDER)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PredictionLogError(
                f"cannot make the prediction log's folder {folder} ({exc.strerror}): set "
                "BANKRISK_DATA_DIR to a writable folder, or BANKRISK_PREDICTION_LOG"
            ) from None
    salt = settings.prediction_log_salt.get_secret_value()
    return open_store(
        settings.prediction_log,
        pseudonymise=settings.prediction_log_pseudonymise,
        salt=salt or None,
        create=False,
    )


def open_writer(
    settings: Settings,
    on_drop: Callable[[int], None] | None = None,
    *,
    store: PredictionStore | None = None,
) -> ProcessLogWriter | None:
    """The service's writer: a child process writes the log, fed with `ScoredRows`; its
    limits are BANKRISK_PREDICTION_LOG_QUEUE, _BATCH and _FLUSH_SECONDS. `on_drop(n)` counts
    the rows dropped. The log is `store` when given (`open_log`), else the one the settings
    name: None when that is `off`; PredictionLogError as `open_log`."""
    from bankrisk.prediction_log.process_writer import ProcessLogWriter
    from bankrisk.prediction_log.thread_writer import WriterLimits

    if store is None:
        store = open_log(settings)
        if store is None:
            return None
    limits = WriterLimits(
        max_rows=settings.prediction_log_queue,
        batch_size=settings.prediction_log_batch,
        flush_seconds=settings.prediction_log_flush_seconds,
    )
    return ProcessLogWriter(store, limits=limits, on_drop=on_drop, spool=spool_limits(settings))


def spool_limits(settings: Settings) -> SpoolLimits | None:
    """The writer's spool as BANKRISK_PREDICTION_LOG_SPOOL and its bounds name it (None:
    `off`)."""
    from bankrisk.prediction_log.spool import SpoolLimits

    folder = settings.prediction_log_spool
    if folder.strip().lower() == OFF:
        return None
    return SpoolLimits(
        path=str(Path(folder, "rows.jsonl")),
        max_bytes=settings.prediction_log_spool_mb * 1_000_000,
        max_age_seconds=settings.prediction_log_spool_minutes * 60.0,
    )


def open_reader(
    url: str,
    *,
    pseudonymise: bool = False,
    salt: str | None = None,
    connect_timeout: float = 5.0,
    create: bool = True,
) -> PredictionStore | None:
    """The log at a SQLAlchemy URL, to read (and to ingest outcomes into, and prune); None
    when `url` is `off`. Creates the tables if missing (`create`); PredictionLogError naming
    the URL (password hidden) when it is malformed, its driver is missing or the store is
    unreachable, and when pseudonymisation is asked for without a salt."""
    return open_store(
        url, pseudonymise=pseudonymise, salt=salt, connect_timeout=connect_timeout, create=create
    )
