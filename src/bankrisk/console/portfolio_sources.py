"""Where the Portfolio page's scores come from: an uploaded file scored by `bankrisk score`'s
own code (`portfolio.local.score_file`: the same reader, checks, scorer and columns, so the
same answers and the same messages), or a run recorded in the prediction log."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bankrisk.console.portfolio_data import (
    LOG_COLUMNS,
    PortfolioScores,
    run_token,
    save_scores,
    scores_path,
)
from bankrisk.errors import BankRiskError
from bankrisk.portfolio.local import score_file
from bankrisk.portfolio.readers import INPUT_SUFFIXES
from bankrisk.portfolio.record import Run, log_rows
from bankrisk.prediction_log.columns import read_columns
from bankrisk.prediction_log.runs import RecordedRun, find_run, list_runs
from bankrisk.prediction_log.store import COLUMNS, PredictionStore, Row
from bankrisk.schema import FIELD_NAMES

UPLOAD_SUFFIXES = (".csv", ".parquet")
# An upload larger than this many bytes a row is refused before it is read.
MAX_BYTES_PER_ROW = 2_000


class UploadError(BankRiskError):
    """An uploaded file the console cannot score; the message says why, for the page."""


def too_many_rows(rows: int | None, limit: int) -> UploadError:
    counted = f"has {rows:,} rows" if rows is not None else "is too large"
    return UploadError(
        f"The file {counted}; the console scores at most {limit:,} "
        "(BANKRISK_CONSOLE_UPLOAD_ROWS). Score larger portfolios with `bankrisk score --input "
        "FILE --output SCORES` (add `--engine spark` for files beyond one machine), recorded "
        "with `--log URL`, then pick the run here."
    )


def upload_name(filename: str | None) -> str:
    """The uploaded file's name, for messages (its folders dropped)."""
    name = Path(filename or "").name.strip()
    return name or "the file"


def check_upload_name(filename: str | None) -> str:
    """The suffix to keep the upload under; UploadError for another kind of file."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(
            f"{upload_name(filename)}: the console reads .csv and .parquet files, not "
            f"{suffix or 'a file without an extension'} (`bankrisk score` reads "
            f"{', '.join(INPUT_SUFFIXES)})"
        )
    return suffix


def count_rows(path: Path) -> int:
    """Data rows of a CSV (lines but the header and blank ones) or a Parquet file."""
    if path.suffix.lower() == ".parquet":
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowException, OSError):
            return 0  # not Parquet: the reader says so
    with path.open("rb") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)


def score_upload(model_dir: Path, path: Path, shown: str, limit: int) -> PortfolioScores:
    """Score the file at `path` (named `shown` in messages) as `bankrisk score` does, at most
    `limit` rows; UploadError with the reader's or the checks' message."""
    rows = count_rows(path)
    if rows > limit:
        raise too_many_rows(rows, limit)
    run = Run("upload", datetime.now(UTC), "", "")
    kept: list[Row] = []

    def keep(raw: np.ndarray, table: pa.Table, id_column: str | None) -> None:
        kept.extend(log_rows(run, raw, table, id_column))

    with tempfile.TemporaryDirectory(prefix="bankrisk-console-") as work:
        try:
            score_file(model_dir, path, Path(work, "scores.parquet"), record=keep)
        except BankRiskError as exc:
            raise UploadError(_named(str(exc), path, shown)) from None
    return _from_rows(kept)


def _named(message: str, path: Path, shown: str) -> str:
    """A scoring message about the upload's copy, naming the file the analyst sent."""
    return message.replace(f"--input {path}", shown).replace(str(path), shown)


def _from_rows(rows: list[Row]) -> PortfolioScores:
    """Scores from log rows (`log_rows`)."""
    at = {name: COLUMNS.index(name) for name in LOG_COLUMNS}
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    data = {name: list(columns[i]) for name, i in at.items()}
    for name in FIELD_NAMES:  # a missing input is NaN
        data[name] = [np.nan if v is None else v for v in data[name]]
    return PortfolioScores.from_columns(data)


def read_run(store: PredictionStore, run_id: str) -> tuple[RecordedRun, PortfolioScores] | None:
    """A recorded run and its scores from the log (None: no such run listed)."""
    found = find_run(store, run_id)
    if found is None:
        return None
    chunks = list(read_columns(store, LOG_COLUMNS, found.selection))
    return found, PortfolioScores.from_chunks(chunks)


def warm_runs(store: PredictionStore, folder: Path, count: int) -> list[str]:
    """Read the `count` latest recorded runs not yet kept into `folder` (what the Portfolio
    page would read at a run's first view: a scan of the log); returns their ids."""
    read = []
    for run in list_runs(store, limit=count):
        token = run_token(store.url, run.run_id)
        if scores_path(folder, token).is_file():
            continue
        found = read_run(store, run.run_id)
        if found is not None:
            save_scores(folder, token, found[1])
            read.append(run.run_id)
    return read
