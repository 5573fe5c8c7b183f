"""Portfolios for the console's Portfolio tests: files of synthetic customers, runs recorded in
a prediction log as `bankrisk score --log` records them, and the grade migration between two
runs counted straight from the bundle's scores (independently of the console's code)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.portfolio.local import score_file
from bankrisk.portfolio.record import Run, recording
from bankrisk.prediction_log.store import PredictionStore
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw


def portfolio_frame(n: int, seed: int, prefix: str = "P") -> pd.DataFrame:
    """`n` synthetic customers with ids `<prefix>0`, `<prefix>1`, ..."""
    raw, _ = make_raw(n, seed=seed)
    frame = pd.DataFrame(raw, columns=list(FIELD_NAMES))
    frame.insert(0, "customer_id", [f"{prefix}{i}" for i in range(n)])
    return frame


def worsened(frame: pd.DataFrame, months_late: int) -> pd.DataFrame:
    """The same customers, their latest repayment status `months_late` months worse (at
    most 8): a later run in which PDs rise."""
    later = frame.copy()
    later["PAY_0"] = np.minimum(later["PAY_0"] + months_late, 8)
    return later


def record_run(
    store: PredictionStore,
    model_dir: Path,
    frame: pd.DataFrame,
    run: Run,
    folder: Path,
) -> None:
    """Score `frame` as `bankrisk score --log` does and record it as `run`."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{run.run_id}.csv"
    frame.to_csv(source, index=False)
    with recording(store, run) as record:
        score_file(model_dir, source, folder / f"{run.run_id}.scores.parquet", record=record)


def grades_by_id(bundle: ModelBundle, frame: pd.DataFrame) -> dict[str, str]:
    scores = bundle.score(frame[list(FIELD_NAMES)].to_numpy(dtype=float))
    return dict(zip(frame["customer_id"], scores.grades, strict=True))


def migration_counts(
    bundle: ModelBundle, last: pd.DataFrame, this: pd.DataFrame
) -> Counter[tuple[str, str]]:
    """(grade last run, grade this run) -> customers, matched by id."""
    before, after = grades_by_id(bundle, last), grades_by_id(bundle, this)
    return Counter((before[c], after[c]) for c in after if c in before)


def as_of(month: int) -> datetime:
    """The first of a month of 2026, UTC: a run's as-of date."""
    return datetime(2026, month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RecordedRuns:
    """Two runs recorded in the console's log: the same customers a month apart, their
    repayment status worse in the second, and some customers only in one of them."""

    last_id: str
    this_id: str
    last: pd.DataFrame
    this: pd.DataFrame


def record_two_runs(store: PredictionStore, model_dir: Path, folder: Path) -> RecordedRuns:
    bundle = ModelBundle.load(model_dir)
    first = portfolio_frame(120, seed=21)
    second = worsened(first, 1).iloc[5:]
    second = pd.concat([second, portfolio_frame(3, seed=22, prefix="N")], ignore_index=True)
    runs = RecordedRuns("book-2026-10", "book-2026-11", first, second)
    for run_id, frame, month in ((runs.last_id, first, 10), (runs.this_id, second, 11)):
        record_run(
            store, model_dir, frame, Run(run_id, as_of(month), bundle.name, bundle.version), folder
        )
    return runs
