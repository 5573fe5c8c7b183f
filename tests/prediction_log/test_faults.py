"""The decision record under faults, through a real `bankrisk serve` on 127.0.0.1 under load
from client threads: after each fault, every customer in a 200 answer is in the log (counted
by request id; a re-send after a writer's death may write a row twice, never lose one), and a
service that must not decide unrecorded refuses with 503 instead."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from bankrisk.prediction_log.store import open_store
from helpers.api import customer
from helpers.log_faults import (
    WAIT_S,
    assert_every_answer_logged,
    logged_by_request,
    metric,
    wait_for,
    writer_pid,
)
from helpers.log_load import LOAD_THREADS, Load
from helpers.postgres import PostgresServer
from helpers.processes import free_port, server
from helpers.tiny_disk import mount_tiny_disk, unmount


def test_the_writer_process_killed_twice_under_load_loses_no_answered_customer(
    bundle_dir: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    with server(bundle_dir, capture=True, cwd=tmp_path, BANKRISK_PREDICTION_LOG=url) as running:
        loads = [Load(running.port, n) for n in range(LOAD_THREADS)]
        for load in loads:
            load.start()
        for _ in range(2):
            time.sleep(1.5)
            killed = wait_for(lambda: writer_pid(running.process.pid), "the writer process")
            assert isinstance(killed, int)
            os.kill(killed, signal.SIGKILL)
            wait_for(
                lambda k=killed: writer_pid(running.process.pid) not in (None, k),  # type: ignore[misc]
                "a new writer process",
            )
        time.sleep(1.0)
        for load in loads:
            load.halt.set()
            load.join(WAIT_S)
        restarts = metric(running.url, "bankrisk_prediction_log_writer_restarts_total")
        returncode = running.stop()
    assert returncode == 0, running.stderr()
    assert restarts == 2
    assert all(load.other_statuses == [] for load in loads)
    assert running.log is not None
    lines = running.log.rest()
    assert sum("exited with code -9" in str(line.get("message")) for line in lines) == 2
    (closed,) = [line for line in lines if "prediction log closed" in str(line.get("message"))]
    assert closed["dropped"] == 0
    assert assert_every_answer_logged(loads, url) > 100


def test_a_required_log_refuses_to_score_while_its_store_is_down_then_resumes(
    bundle_dir: Path, tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    with server(
        bundle_dir,
        capture=True,
        cwd=tmp_path,
        BANKRISK_PREDICTION_LOG=url,
        BANKRISK_PREDICTION_LOG_REQUIRED="true",
        # No spool: rows kept on the instance's disk count as recorded (docs/operations.md).
        BANKRISK_PREDICTION_LOG_SPOOL="off",
        BANKRISK_PREDICTION_LOG_FLUSH_SECONDS="0.05",
    ) as running:
        with httpx.Client(base_url=running.url, timeout=10) as client:
            answered: list[str] = []

            def post(i: int) -> httpx.Response:
                response = client.post("/v1/predict", json=customer(customer_id=f"R-{i}"))
                if response.status_code == 200:
                    answered.append(f"R-{i}")
                return response

            assert post(0).status_code == 200
            assert client.get("/ready").status_code == 200
            postgres.stop()
            tries = iter(range(1, 100_000))
            refused = wait_for(
                lambda: (r := post(next(tries))).status_code == 503 and r, "a 503 answer"
            )
            assert isinstance(refused, httpx.Response)
            detail = refused.json()["detail"]
            assert "BANKRISK_PREDICTION_LOG_REQUIRED" in detail and "unavailable" in detail
            ready = client.get("/ready")
            assert ready.status_code == 503 and "unavailable" in ready.json()["status"]
            assert post(next(tries)).status_code == 503  # still refused: nothing unrecorded
            postgres.start()
            wait_for(lambda: post(next(tries)).status_code == 200, "scoring to resume")
            assert client.get("/ready").status_code == 200
        returncode = running.stop()
    assert returncode == 0, running.stderr()
    logged = {row["customer_id"] for row in open_store(url, create=False).read_predictions()}  # type: ignore[union-attr]
    assert set(answered) <= logged and len(answered) >= 2


OUTAGE_S = 10.0  # the docs' figures come from longer outages: benchmarks/log_faults.py


def test_postgresql_stopped_under_load_loses_no_answered_customer(
    bundle_dir: Path, tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    with server(bundle_dir, capture=True, cwd=tmp_path, BANKRISK_PREDICTION_LOG=url) as running:
        loads = [Load(running.port, n, seconds=OUTAGE_S + WAIT_S) for n in range(LOAD_THREADS)]
        for load in loads:
            load.start()
        time.sleep(1.5)
        postgres.stop()
        time.sleep(OUTAGE_S)
        spooled = metric(running.url, "bankrisk_prediction_log_spool_bytes")
        postgres.start()
        time.sleep(1.5)
        for load in loads:
            load.halt.set()
            load.join(WAIT_S)
        wait_for(
            lambda: metric(running.url, "bankrisk_prediction_log_spool_bytes") == 0,
            "the spool to empty",
        )
        returncode = running.stop()
    assert returncode == 0, running.stderr()
    assert spooled > 0  # the outage's rows waited on disk
    assert all(load.other_statuses == [] for load in loads)
    assert running.log is not None
    (closed,) = [
        line for line in running.log.rest() if "prediction log closed" in str(line.get("message"))
    ]
    assert closed["dropped"] == 0
    assert assert_every_answer_logged(loads, url) > 100


def test_a_full_spool_disk_is_one_clear_error_counted_and_never_a_5xx(
    bundle_dir: Path, tmp_path: Path
) -> None:
    tiny = mount_tiny_disk(tmp_path / "tiny")
    down = f"postgresql+pg8000://u@127.0.0.1:{free_port()}/db"  # refuses every connection
    try:
        with server(
            bundle_dir,
            capture=True,
            cwd=tmp_path,
            BANKRISK_PREDICTION_LOG=down,
            BANKRISK_PREDICTION_LOG_SPOOL=str(tiny),
            BANKRISK_PREDICTION_LOG_FLUSH_SECONDS="0.05",
        ) as running:
            with httpx.Client(base_url=running.url, timeout=10) as client:
                records = [customer(customer_id=f"F-{k}") for k in range(100)]
                statuses = set()
                for _ in range(40):  # far more than 64 KiB of rows
                    response = client.post("/v1/predict/batch", json={"records": records})
                    statuses.add(response.status_code)
                wait_for(
                    lambda: metric(running.url, "bankrisk_prediction_log_dropped_total") > 0,
                    "rows dropped for want of disk",
                )
            returncode = running.stop()
    finally:
        unmount(tiny)
    assert statuses == {200} and returncode == 0, running.stderr()
    assert running.log is not None
    errors = [line for line in running.log.rest() if line.get("severity") == "ERROR"]
    full = [line for line in errors if "No space left" in str(line.get("message"))]
    assert full and str(tiny / "rows.jsonl") in full[0]["message"]
    assert "Traceback" not in (running.stderr() or "")


def test_a_server_killed_under_load_loses_only_its_last_moment_of_rows(
    bundle_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL of the server: its writer process writes what it was sent and exits; only the
    rows the server had not yet sent (at most a flush interval's, 0.2 s by default) are lost."""
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    with server(bundle_dir, capture=True, cwd=tmp_path, BANKRISK_PREDICTION_LOG=url) as running:
        loads = [Load(running.port, n) for n in range(LOAD_THREADS)]
        for load in loads:
            load.start()
        time.sleep(2.0)
        child = writer_pid(running.process.pid)
        killed_at = time.monotonic()
        running.process.kill()
        running.process.wait(WAIT_S)
        for load in loads:
            load.halt.set()
            load.join(WAIT_S)
        assert child is not None
        wait_for(lambda: not Path(f"/proc/{child}").exists(), "the orphaned writer to finish")
    logged = logged_by_request(url)
    missing = [
        (killed_at - load.answered_at[r], n)
        for load in loads
        for r, n in load.answered.items()
        if logged.get(r, 0) < n
    ]
    answered = sum(sum(load.answered.values()) for load in loads)
    assert answered > 100
    # Every answer lost came in the server's last second (a flush interval, and the time the
    # client took to see its answer on a busy machine): nothing older.
    assert all(age < 1.0 for age, _ in missing), sorted(missing)[-5:]
