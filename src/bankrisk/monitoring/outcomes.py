"""`bankrisk monitor outcomes`: observed defaults joined to logged predictions by customer id.

The file (CSV or Parquet) has a customer id column, `customer_id` or the UCI `ID`, and the
default flag, `defaulted` or the UCI target (`default payment next month`, any spelling
`bankrisk.data.load` accepts). Outcomes are upserted by customer id, so ingesting the same file
twice changes nothing; a corrected flag replaces the old one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bankrisk.data.load import normalise_columns
from bankrisk.errors import BankRiskError
from bankrisk.monitoring.drift import fields_of
from bankrisk.prediction_log.opening import PredictionLogError, open_reader
from bankrisk.prediction_log.store import OFF, PredictionStore, normalise_customer_id
from bankrisk.schema import ID_COLUMN, TARGET

ID_COLUMNS = ("customer_id", ID_COLUMN)
FLAG_COLUMNS = ("defaulted", TARGET)
SUFFIXES = (".csv", ".parquet", ".pq")


class OutcomeFileError(BankRiskError):
    """The outcomes file cannot be read or lacks a column; the message names it."""


@dataclass(frozen=True)
class OutcomeIngest:
    """What `ingest_outcomes` did: the file's rows and repeated customer ids, then per distinct
    customer id (`rows`) how many were inserted, updated (a changed flag) or unchanged, and
    how many have a logged prediction (`matched`) or not (`unmatched`)."""

    file: str
    file_rows: int
    duplicate_ids: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    matched: int
    unmatched: int

    def as_dict(self) -> dict[str, Any]:
        return fields_of(self)

    def to_json(self) -> str:
        """The JSON `bankrisk monitor outcomes --json` prints."""
        return json.dumps(self.as_dict(), indent=2)


def open_log(url: str, *, pseudonymise: bool = False, salt: str | None = None) -> PredictionStore:
    """The prediction log to monitor (read, ingest outcomes into, prune), which must exist:
    PredictionLogError when `url` is `off` or names a SQLite file that does not exist (opening
    one would create an empty log), and as `open_reader` otherwise."""
    if url.strip().lower() == OFF:
        raise PredictionLogError(
            "--log: the prediction log is off (BANKRISK_PREDICTION_LOG=off): "
            "give the URL of a log to read"
        )
    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        parsed = None  # open_reader names the malformed URL
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_file():
            raise PredictionLogError(f"--log {url}: no such SQLite file {database}")
    store = open_reader(url, pseudonymise=pseudonymise, salt=salt)
    if store is None:  # `off`, refused above
        raise PredictionLogError(f"--log {url}: the prediction log is off")
    return store


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise OutcomeFileError(f"--data {path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise OutcomeFileError(
            f"--data {path}: unsupported file type {suffix or '(none)'!r} (expected .csv or "
            ".parquet)"
        )
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, encoding="utf-8-sig", dtype={"customer_id": str})
            if "customer_id" not in frame and ID_COLUMN not in frame and len(frame):
                # The official UCI layout: a row of X1..X23, Y codes above the real header.
                frame = pd.read_csv(path, encoding="utf-8-sig", skiprows=1)
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many unrelated types
        text = " ".join(str(exc).split())[:200]
        raise OutcomeFileError(f"--data {path}: not a valid {suffix} file ({text})") from None
    try:
        frame.columns = pd.Index(normalise_columns(list(frame.columns)))
    except BankRiskError as exc:
        raise OutcomeFileError(f"--data {path}: {exc}") from None
    return frame


def read_outcome_file(path: Path) -> list[tuple[str, int]]:
    """(customer id, defaulted 0/1) of each row of the file."""
    frame = _read(path)
    id_col = next((c for c in ID_COLUMNS if c in frame.columns), None)
    flag_col = next((c for c in FLAG_COLUMNS if c in frame.columns), None)
    missing = [
        what
        for what, col in (
            ("a customer id column (customer_id or ID)", id_col),
            (f"a default flag column (defaulted or '{TARGET}')", flag_col),
        )
        if col is None
    ]
    if missing or id_col is None or flag_col is None:
        raise OutcomeFileError(
            f"--data {path}: missing {' and '.join(missing)}; columns are "
            f"{', '.join(map(str, frame.columns[:30]))}"
        )
    ids = [normalise_customer_id(v) for v in frame[id_col].tolist()]
    no_id = sum(1 for v in ids if v is None)
    if no_id:
        raise OutcomeFileError(f"--data {path}: column {id_col!r} is empty in {no_id} row(s)")
    flags = pd.to_numeric(frame[flag_col], errors="coerce")
    bad = ~flags.isin([0, 1])
    if bad.any():
        examples = ", ".join(sorted({repr(v) for v in frame.loc[bad, flag_col].head(5).tolist()}))
        raise OutcomeFileError(
            f"--data {path}: column {flag_col!r} must be 0 or 1, found {int(bad.sum())} other "
            f"value(s), e.g. {examples}"
        )
    return [(str(i), int(f)) for i, f in zip(ids, flags.astype(int).tolist(), strict=True)]


def ingest_outcomes(store: PredictionStore, path: Path) -> OutcomeIngest:
    """Upsert the file's outcomes; counts of rows, inserted, updated, unchanged, matched and
    unmatched (customer ids with no logged prediction)."""
    flags = read_outcome_file(path)
    counts = store.upsert_outcomes(flags, source=path.name)
    return OutcomeIngest(
        file=str(path),
        file_rows=len(flags),
        duplicate_ids=len(flags) - counts["rows"],
        rows=counts["rows"],
        inserted=counts["inserted"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        matched=counts["matched"],
        unmatched=counts["unmatched"],
    )
