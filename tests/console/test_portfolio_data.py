"""The Portfolio page's data layer on real components: files scored by `bankrisk score`'s code,
runs recorded in a real SQLite log (with their `portfolio_runs` row, in one transaction),
summaries, the grade migration matrix and the PD rises, the kept scores and their CSV."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DECISIONS
from bankrisk.console.portfolio_data import (
    KEEP_SECONDS,
    PortfolioScores,
    biggest_rises,
    load_scores,
    migration,
    new_token,
    parse_reasons,
    run_token,
    save_scores,
    scores_csv,
    scores_path,
    summarise,
)
from bankrisk.console.portfolio_sources import UploadError, read_run, score_upload, warm_runs
from bankrisk.portfolio.local import score_file
from bankrisk.portfolio.record import Run, recording
from bankrisk.prediction_log.columns import Selection, count_rows
from bankrisk.prediction_log.opening import open_reader
from bankrisk.prediction_log.runs import list_runs
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.schema import FIELD_NAMES
from helpers.console_portfolio import (
    as_of,
    migration_counts,
    portfolio_frame,
    record_run,
    worsened,
)
from helpers.log_rows import prediction_row


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    found = open_reader(f"sqlite:///{tmp_path / 'log.db'}")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def small_bundle(small_bundle_dir: Path) -> ModelBundle:
    return ModelBundle.load(small_bundle_dir)


def _scores(ids: list[str | None], grades: list[str], pds: list[float]) -> PortfolioScores:
    n = len(ids)
    columns: dict[str, object] = {"customer_id": ids, "pd": pds, "score": [500] * n}
    columns.update({name: [1.0] * n for name in FIELD_NAMES})
    columns.update(grade=grades, decision=["approve"] * n, reason_codes=["[]"] * n)
    return PortfolioScores.from_columns(columns)


def test_migration_matrix_counts_customers_by_their_two_grades() -> None:
    grades = ["A", "B", "C"]
    last = _scores(["1", "2", "3", "4", None], ["A", "A", "B", "C", "A"], [0.1] * 5)
    this = _scores(["2", "3", "4", "5", None], ["B", "B", "A", "C", "C"], [0.2] * 5)
    found = migration(last, this, grades)
    assert found.grades == ("A", "B", "C")
    assert found.counts == ((0, 1, 0), (0, 1, 0), (1, 0, 0))
    assert (found.matched, found.only_last, found.only_this, found.without_id) == (3, 1, 1, 2)
    assert (found.downgraded, found.upgraded) == (1, 1)


def test_migration_keeps_a_grade_the_policy_does_not_name() -> None:
    last = _scores(["1"], ["Z"], [0.1])
    this = _scores(["1"], ["A"], [0.1])
    assert migration(last, this, ["A"]).grades == ("A", "Z")


def test_biggest_rises_are_matched_by_id_largest_first_and_only_rises() -> None:
    last = _scores(["1", "2", "3"], ["A", "A", "B"], [0.10, 0.20, 0.50])
    this = _scores(["3", "2", "1"], ["C", "B", "A"], [0.40, 0.60, 0.15])
    rises = biggest_rises(last, this)
    assert [(r.customer_id, round(r.rise, 6)) for r in rises] == [("2", 0.4), ("1", 0.05)]
    assert (rises[0].grade_last, rises[0].grade_this) == ("A", "B")


def test_summary_counts_in_policy_order_and_sums_the_pds() -> None:
    scores = _scores(["1", "2", "3", "4"], ["B", "A", "B", "X"], [0.1, 0.4, 0.2, 0.05])
    summary = summarise(scores, ["A", "B", "C"], DECISIONS, top=2)
    assert [(c.label, c.count) for c in summary.grades] == [("A", 1), ("B", 2), ("C", 0), ("X", 1)]
    assert summary.expected_defaults == pytest.approx(0.75)
    assert [c.customer_id for c in summary.riskiest] == ["2", "3"]


def test_reasons_read_texts_and_skip_what_is_malformed() -> None:
    text = '[{"code":"R01","feature":"PAY_0","text":"Late"},{"code":"R02","feature":"F"},3]'
    assert [(r.code, r.says) for r in parse_reasons(text)] == [("R01", "Late"), ("R02", "F")]
    assert parse_reasons("not json") == ()


def test_an_upload_is_scored_as_bankrisk_score_scores_it(
    tmp_path: Path, small_bundle_dir: Path, small_bundle: ModelBundle
) -> None:
    frame = portfolio_frame(60, seed=4)
    path = tmp_path / "book.csv"
    frame.to_csv(path, index=False)
    scores = score_upload(small_bundle_dir, path, "book.csv", 1000)
    expected = small_bundle.score(frame[list(FIELD_NAMES)].to_numpy(dtype=float))
    assert scores.customer_ids == tuple(frame["customer_id"])
    np.testing.assert_allclose(scores.pd, expected.pd)
    assert list(scores.grade) == list(expected.grades)
    assert scores.customer(0).field_texts["LIMIT_BAL"] == str(int(frame["LIMIT_BAL"][0]))


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda f: f.drop(columns=["PAY_0"]), "book.csv: missing required columns: PAY_0"),
        (lambda f: f.assign(AGE=[-5] + [30] * (len(f) - 1)), "row 1: AGE: must be between"),
    ],
)
def test_a_malformed_upload_is_refused_with_the_checks_message(
    tmp_path: Path, small_bundle_dir: Path, change: object, says: str
) -> None:
    path = tmp_path / "book.csv"
    change(portfolio_frame(5, seed=1)).to_csv(path, index=False)  # type: ignore[operator]
    with pytest.raises(UploadError, match=says) as raised:
        score_upload(small_bundle_dir, path, "book.csv", 1000)
    assert str(tmp_path) not in str(raised.value)


def test_an_upload_over_the_bound_points_to_bankrisk_score(
    tmp_path: Path, small_bundle_dir: Path
) -> None:
    path = tmp_path / "book.parquet"
    portfolio_frame(11, seed=1).to_parquet(path)
    with pytest.raises(UploadError, match=r"has 11 rows; the console scores at most 10") as raised:
        score_upload(small_bundle_dir, path, "book.parquet", 10)
    assert "bankrisk score" in str(raised.value) and "--engine spark" in str(raised.value)


def test_recorded_runs_are_listed_and_read_back(
    tmp_path: Path, store: PredictionStore, small_bundle_dir: Path, small_bundle: ModelBundle
) -> None:
    first = portfolio_frame(80, seed=2)
    later = worsened(first, 2).iloc[10:]  # ten customers left
    name, version = small_bundle.name, small_bundle.version
    record_run(store, small_bundle_dir, first, Run("jan", as_of(1), name, version), tmp_path)
    store.insert_predictions([prediction_row(i) for i in range(5)])  # the API's, between runs
    record_run(store, small_bundle_dir, later, Run("feb", as_of(2), name, version), tmp_path)
    runs = list_runs(store)
    assert [(r.run_id, r.rows, r.as_of) for r in runs] == [
        ("feb", 70, as_of(2)),
        ("jan", 80, as_of(1)),
    ]
    # Each run's rows are a range of ids: read by it, a run is its rows and nothing else.
    assert [r.last_id - r.after_id for r in runs] == [70, 80]
    assert runs[0].after_id == runs[1].last_id + 5
    read_jan, read_feb = read_run(store, "jan"), read_run(store, "feb")
    assert read_jan is not None and read_feb is not None
    assert read_run(store, "mar") is None
    found = migration(read_jan[1], read_feb[1], small_bundle.policy.grades)
    expected = migration_counts(small_bundle, first, later)
    grades = found.grades
    got = {
        (grades[i], grades[j]): n
        for i, row in enumerate(found.counts)
        for j, n in enumerate(row)
        if n
    }
    assert got == dict(expected)
    assert (found.matched, found.only_last, found.only_this) == (70, 10, 0)
    rises = biggest_rises(read_jan[1], read_feb[1])
    assert rises and all(r.rise > 0 for r in rises)


def test_the_latest_runs_are_read_ahead_once(
    tmp_path: Path, store: PredictionStore, small_bundle_dir: Path
) -> None:
    frame = portfolio_frame(10, seed=6)
    for k, run_id in enumerate(("one", "two", "three")):
        record_run(store, small_bundle_dir, frame, Run(run_id, as_of(k + 1), "m", "1"), tmp_path)
    folder = tmp_path / "kept"
    assert warm_runs(store, folder, 2) == ["three", "two"]
    assert warm_runs(store, folder, 2) == []
    kept = load_scores(folder, run_token(store.url, "two"))
    assert kept is not None and kept.customer_ids == tuple(frame["customer_id"])


def test_a_run_that_fails_records_neither_rows_nor_its_listing(
    tmp_path: Path, store: PredictionStore, small_bundle: ModelBundle, small_bundle_dir: Path
) -> None:
    frame = portfolio_frame(10, seed=3)
    record_run(store, small_bundle_dir, frame, Run("ok", as_of(1), "m", "1"), tmp_path)
    run = Run("broken", as_of(2), small_bundle.name, small_bundle.version)
    frame.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(RuntimeError), recording(store, run) as record:
        score_file(small_bundle_dir, tmp_path / "x.csv", tmp_path / "x.parquet", record=record)
        raise RuntimeError("the run fails after its rows were inserted")
    assert [r.run_id for r in list_runs(store)] == ["ok"]
    assert count_rows(store, Selection(role=None, run="broken")) == 0


def test_a_log_without_runs_lists_none_and_creates_nothing(tmp_path: Path) -> None:
    plain = open_store(f"sqlite:///{tmp_path / 'plain.db'}", create=False)
    assert plain is not None
    assert list_runs(plain) == []
    assert "portfolio_runs" not in inspect(plain.engine).get_table_names()


def test_kept_scores_round_trip_and_download_as_csv(tmp_path: Path) -> None:
    scores = _scores(["1", None], ["A", "B"], [0.1, 0.2])
    token = new_token()
    save_scores(tmp_path, token, scores)
    back = load_scores(tmp_path, token)
    assert back is not None
    assert back.customer_ids == ("1", None) and back.grade == ("A", "B")
    data = scores_csv(tmp_path, token)
    assert data is not None
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["customer_id"], r["risk_grade"]) for r in rows] == [("1", "A"), ("", "B")]
    assert load_scores(tmp_path, "../../etc/passwd") is None
    assert scores_csv(tmp_path, new_token()) is None


def test_kept_scores_older_than_a_working_day_are_deleted(tmp_path: Path) -> None:
    old, new = new_token(), new_token()
    save_scores(tmp_path, old, _scores(["1"], ["A"], [0.1]))
    stale = time.time() - KEEP_SECONDS - 60
    os.utime(scores_path(tmp_path, old), (stale, stale))
    save_scores(tmp_path, new, _scores(["2"], ["B"], [0.2]))
    assert load_scores(tmp_path, old) is None
    assert load_scores(tmp_path, new) is not None


def test_no_chunks_are_an_empty_portfolio() -> None:
    assert PortfolioScores.from_chunks([]).rows == 0
