"""BANKRISK_MODEL_SOURCE as a registry alias, against a real `mlflow server` on 127.0.0.1:
the service follows `bank-default-risk@champion` over MLflow's REST API (plain HTTP, no mlflow
package in the service's code path), and a registry that cannot be reached changes nothing."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bankrisk.bundle.store import install_bundle
from bankrisk.config import Settings
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.reload import load_scorer
from helpers.api import TestClient, customer
from helpers.processes import clean_env, free_port

MLFLOW = Path(sys.executable).with_name("mlflow")
WAIT_S = 60.0


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """A real `mlflow server` on a temporary SQLite store; yields the settings that log to
    the same store and the server's host:port."""
    settings = Settings(
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        mlflow_artifact_root=tmp_path / "mlartifacts",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--backend-store-uri",
            settings.mlflow_tracking_uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
        cwd=tmp_path,
        start_new_session=True,  # its workers are children: stopped as a group
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert process.poll() is None, "mlflow server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow server not up"
            time.sleep(0.2)
        yield settings, f"127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _register(settings: Settings, bundle: Path, staging: Path) -> str:
    """Log `bundle` as a new registered version and point `champion` at it."""
    import mlflow
    from mlflow import MlflowClient

    from bankrisk.training.tracking import configure_mlflow, log_bundle_model

    folder = staging / "bundle"  # MLflow names the artifact after the folder
    install_bundle(bundle, folder)
    with mlflow.start_run(experiment_id=configure_mlflow(settings)):
        version = log_bundle_model(folder, settings)
    MlflowClient().set_registered_model_alias(settings.registered_model_name, "champion", version)
    return version


def _wait_for_version(client: TestClient, version: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while client.post("/v1/predict", json=customer()).json()["model"]["version"] != version:
        assert time.monotonic() < deadline, f"v{version} never served"
        time.sleep(0.1)


def test_service_follows_the_registry_alias(
    registry: tuple[Settings, str], bundle_dir: Path, challenger_dir: Path, tmp_path: Path
) -> None:
    settings, host = registry
    _register(settings, challenger_dir, tmp_path / "first")  # bundle v8 as registry v1
    log = io.StringIO()
    config = Settings(
        model_source=f"mlflow-registry://{host}/bank-default-risk@champion",
        model_source_poll_seconds=0.1,
    )
    app = create_app(config, load_scorer(bundle_dir), JsonLogger(log), model_dir=bundle_dir)
    with TestClient(app, raise_server_exceptions=False) as client:
        _wait_for_version(client, "8")
        _register(settings, bundle_dir, tmp_path / "second")  # bundle v7 as registry v2
        _wait_for_version(client, "7")
        assert client.get("/v1/model").json()["version"] == "7"
    reloads = [line for line in log.getvalue().splitlines() if "models reloaded on poll" in line]
    assert len(reloads) == 2


def test_unreachable_registry_keeps_the_model(bundle_dir: Path) -> None:
    log = io.StringIO()
    config = Settings(
        model_source=f"mlflow-registry://127.0.0.1:{free_port()}/bank-default-risk@champion",
        model_source_poll_seconds=0.05,
    )
    app = create_app(config, load_scorer(bundle_dir), JsonLogger(log), model_dir=bundle_dir)
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.monotonic() + WAIT_S
        while "model source unreachable" not in log.getvalue():
            assert time.monotonic() < deadline, log.getvalue()
            time.sleep(0.05)
        response = client.post("/v1/predict", json=customer())
        assert response.status_code == 200
        assert response.json()["model"]["version"] == "7"
