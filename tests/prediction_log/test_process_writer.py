"""`bankrisk serve` with a prediction log, as a real process: SIGTERM in the middle of load
loses no logged row (every customer in a 200 answer is in the log), and a malformed log URL
stops start-up with one CRITICAL line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from bankrisk.prediction_log.store import open_store
from helpers.api import customer
from helpers.log_load import LOAD_THREADS, Load
from helpers.processes import BANKRISK, clean_env, free_port, server


def test_sigterm_under_load_flushes_every_answered_customer_to_the_log(
    bundle_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "predictions.db"
    with server(
        bundle_dir,
        capture=True,
        cwd=tmp_path,
        BANKRISK_PREDICTION_LOG=f"sqlite:///{db}",
        # Room for everything this load sends: the test is about the flush, not about drops.
        BANKRISK_PREDICTION_LOG_QUEUE="1000000",
        # A long wait between inserts: much is still buffered when SIGTERM comes.
        BANKRISK_PREDICTION_LOG_FLUSH_SECONDS="2",
        BANKRISK_PREDICTION_LOG_BATCH="100000",
    ) as running:
        assert running.log is not None
        loads = [Load(running.port, n) for n in range(LOAD_THREADS)]
        for load in loads:
            load.start()
        time.sleep(2.5)
        running.terminate()
        closed = running.log.wait_for("prediction log closed")
        returncode = running.stop()
        for load in loads:
            load.halt.set()
            load.join(30)
    stderr = running.stderr()

    assert returncode == 0, stderr
    assert stderr is not None and "Traceback" not in stderr
    answered: dict[str, int] = {}
    for load in loads:
        assert load.other_statuses == []
        answered.update(load.answered)
    customers = sum(answered.values())
    assert customers > 100 and any(n == 25 for n in answered.values())
    store = open_store(f"sqlite:///{db}")
    assert store is not None
    try:
        rows = store.read_predictions()
    finally:
        store.close()
    assert len(rows) == customers
    by_request: dict[str, int] = {}
    for row in rows:
        by_request[row["request_id"]] = by_request.get(row["request_id"], 0) + 1
    assert by_request == answered
    assert closed["severity"] == "INFO"
    assert closed["written"] == customers and closed["dropped"] == 0


def test_a_malformed_log_url_exits_2_with_one_critical_line(bundle_dir: Path) -> None:
    done = subprocess.run(
        [str(BANKRISK), "serve", "--model-dir", str(bundle_dir), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(BANKRISK_PREDICTION_LOG="not a url://x"),
        check=False,
    )

    assert done.returncode == 2
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["severity"] == "CRITICAL"
    assert line["message"].startswith("cannot serve: BANKRISK_PREDICTION_LOG: prediction log URL")
    assert "not a SQLAlchemy URL" in line["message"]
    assert "Traceback" not in done.stderr


def test_a_store_that_is_down_does_not_stop_start_up(bundle_dir: Path, tmp_path: Path) -> None:
    down = f"postgresql+pg8000://u@127.0.0.1:{free_port()}/db"
    with server(bundle_dir, capture=True, cwd=tmp_path, BANKRISK_PREDICTION_LOG=down) as running:
        assert running.log is not None
        response = httpx.post(f"{running.url}/v1/predict", json=customer(), timeout=10)
        assert response.status_code == 200
        returncode = running.stop()
    assert returncode == 0, running.stderr()
    (closed,) = [
        line
        for line in running.log.rest()
        if str(line.get("message", "")).startswith("prediction log closed")
    ]
    # The row waits in the spool (under the data folder) for the next start: not dropped.
    assert closed["dropped"] == 0
    assert (tmp_path / "data/prediction-log/spool/rows.jsonl").stat().st_size > 0


def test_a_log_folder_that_cannot_be_made_exits_2_with_one_critical_line(
    bundle_dir: Path, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")  # the data folder is a file: the log's folder cannot be made
    done = subprocess.run(
        [str(BANKRISK), "serve", "--model-dir", str(bundle_dir), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(BANKRISK_DATA_DIR=str(not_a_folder), BANKRISK_PREDICTION_LOG=""),
        cwd=tmp_path,
        check=False,
    )

    assert done.returncode == 2
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["severity"] == "CRITICAL"
    assert "cannot make the prediction log's folder" in line["message"]
    assert "BANKRISK_DATA_DIR" in line["message"] and "Traceback" not in done.stderr
