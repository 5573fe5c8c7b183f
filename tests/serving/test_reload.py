"""A new champion (and challenger) without a restart: the admin endpoint (404 without a key,
401 with a wrong one), polling a bundle directory, a corrupt bundle refused with the old one
still serving, and SIGHUP and the endpoint on a real `bankrisk serve` under load with no
request failing."""

from __future__ import annotations

import io
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bankrisk.bundle.store import ARRAYS_FILE, install_bundle, staged_directory
from bankrisk.config import Settings
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.reload import load_scorer
from helpers.api import Api, TestClient, customer
from helpers.processes import server

KEY = "admin-secret"
WAIT_S = 30.0


@pytest.fixture
def model_dir(bundle_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the test bundle (v7) that a test may replace or corrupt."""
    target = tmp_path / "model"
    install_bundle(bundle_dir, target)
    return target


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    clients: list[tuple[TestClient, bool]] = []

    def build(model_dir: Path, enter: bool = False, **settings: Any) -> Api:
        config = Settings(**settings)
        challenger = None
        if config.challenger_dir is not None:
            challenger = load_scorer(config.challenger_dir, config.challenger_mode)
        log = io.StringIO()
        app = create_app(
            config,
            load_scorer(model_dir),
            JsonLogger(log),
            challenger=challenger,
            model_dir=model_dir,
        )
        client = TestClient(app, raise_server_exceptions=False)
        if enter:  # runs the lifespan: the source poller
            client.__enter__()
        clients.append((client, enter))
        return Api(client, log, app)

    yield build
    for client, entered in clients:
        if entered:
            client.__exit__(None, None, None)
        else:
            client.close()


def corrupt(directory: Path) -> None:
    """One byte of the model's arrays changed: the manifest's checksum no longer matches."""
    path = directory / ARRAYS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _version(api: Api) -> str:
    """The version answering: /v1/predict's, the same as /v1/model's before and after it (read
    again when a reload swapped the models in between: the poller runs meanwhile)."""
    for _ in range(5):
        before = api.client.get("/v1/model").json()["version"]
        response = api.client.post("/v1/predict", json=customer())
        assert response.status_code == 200
        version: str = response.json()["model"]["version"]
        if api.client.get("/v1/model").json()["version"] == before:
            assert version == before
            return version
    raise AssertionError("the served version kept changing")


def _model_info(api: Api) -> set[tuple[str, str]]:
    return {
        (dict(labels)["role"], dict(labels)["version"])
        for (name, labels), value in api.metrics().items()
        if name == "bankrisk_model_info" and value == 1
    }


def _reloads(api: Api) -> tuple[float, float]:
    samples = api.metrics()
    return tuple(  # type: ignore[return-value]
        samples[("bankrisk_model_reloads_total", (("result", r),))] for r in ("success", "failure")
    )


# ---- the admin endpoint -------------------------------------------------------------------


def test_admin_reload_is_404_without_a_key(make_app: Callable[..., Api], model_dir: Path) -> None:
    api = make_app(model_dir)
    response = api.client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    assert "/v1/admin/reload" not in api.client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": KEY}],
)
def test_admin_reload_is_401_with_a_wrong_key(
    make_app: Callable[..., Api], model_dir: Path, headers: dict[str, str]
) -> None:
    api = make_app(model_dir, admin_api_key=KEY)
    response = api.client.post("/v1/admin/reload", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid admin key", "errors": []}
    assert _reloads(api) == (0, 0)


def test_admin_reload_swaps_champion_and_challenger(
    make_app: Callable[..., Api],
    model_dir: Path,
    bundle_dir: Path,
    challenger_dir: Path,
    tmp_path: Path,
) -> None:
    second = tmp_path / "challenger"
    install_bundle(challenger_dir, second)
    api = make_app(model_dir, admin_api_key=KEY, challenger_dir=str(second))
    assert _version(api) == "7"
    assert _model_info(api) == {("champion", "7"), ("challenger", "8")}

    # The two bundles change places on disk, then one reload picks both up.
    install_bundle(challenger_dir, model_dir)
    install_bundle(bundle_dir, second)
    response = api.client.post("/v1/admin/reload", headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reloaded"
    assert body["champion"] == {"name": "test-model", "version": "8", "role": "champion"}
    assert body["challenger"] == {"name": "test-model", "version": "7", "role": "shadow"}
    assert _version(api) == "8"
    # The old series are gone: one champion, one challenger.
    assert _model_info(api) == {("champion", "8"), ("challenger", "7")}
    assert _reloads(api) == (1, 0)
    line = [entry for entry in api.log_lines() if entry["message"].startswith("models reloaded")]
    assert line[-1]["champion"]["version"] == "8"


def test_corrupt_bundle_is_refused_and_the_old_one_keeps_serving(
    make_app: Callable[..., Api], model_dir: Path
) -> None:
    api = make_app(model_dir, admin_api_key=KEY)
    corrupt(model_dir)
    response = api.client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 409
    assert ARRAYS_FILE in response.json()["detail"]
    assert "checksum" in response.json()["detail"]
    assert _version(api) == "7"
    assert _model_info(api) == {("champion", "7")}
    assert _reloads(api) == (0, 1)
    refused = [e for e in api.log_lines() if e["message"].startswith("model reload refused")]
    assert len(refused) == 1
    assert refused[0]["severity"] == "ERROR"
    assert ARRAYS_FILE in refused[0]["message"] and "still serving v7" in refused[0]["message"]


# ---- polling a bundle directory ------------------------------------------------------------


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_polling_a_directory_source_loads_a_new_bundle_and_refuses_a_bad_one_once(
    make_app: Callable[..., Api],
    model_dir: Path,
    bundle_dir: Path,
    challenger_dir: Path,
    tmp_path: Path,
) -> None:
    source = tmp_path / "mounted"
    install_bundle(bundle_dir, source)  # the same bundle as served: nothing to do
    api = make_app(model_dir, enter=True, model_source=str(source), model_source_poll_seconds=0.05)
    time.sleep(0.3)
    assert _reloads(api) == (0, 0)

    install_bundle(challenger_dir, source)
    _wait(lambda: _version(api) == "8", "the polled bundle (v8)")
    assert _reloads(api) == (1, 0)

    # The corrupt copy swapped in whole, as install_bundle swaps a good one. Installed good and
    # corrupted in place after, the poller could load the good one in between and then see
    # no change (it did once, under load).
    with staged_directory(source) as staged:
        shutil.copytree(bundle_dir, staged, dirs_exist_ok=True)
        corrupt(staged)
    _wait(lambda: _reloads(api)[1] == 1, "the corrupt bundle's refusal")
    time.sleep(0.3)  # several polls: the same bad bundle is not tried again
    assert _reloads(api) == (1, 1)
    assert _version(api) == "8"


# ---- a real `bankrisk serve` under load ----------------------------------------------------


class Load(threading.Thread):
    """Posts single customers back to back (bounded in time) and keeps every status and
    answering version."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.statuses: list[int] = []
        self.versions: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        i = 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.halt.is_set() and time.monotonic() < deadline:
                i += 1
                response = client.post("/v1/predict", json=customer(customer_id=f"L-{i}"))
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.versions.append(response.json()["model"]["version"])

    def wait_for_version(self, version: str) -> None:
        seen = len(self.versions)
        _wait(lambda: version in self.versions[seen:], f"answers from v{version}")


def test_sighup_and_admin_reload_under_load_fail_no_request(
    model_dir: Path, bundle_dir: Path, challenger_dir: Path
) -> None:
    with server(model_dir, capture=True, BANKRISK_ADMIN_API_KEY=KEY) as running:
        lines = running.log
        assert lines is not None
        load = Load(running.url)
        try:
            load.start()
            _wait(lambda: len(load.versions) > 50, "the load to start")

            install_bundle(challenger_dir, model_dir)
            running.process.send_signal(signal.SIGHUP)
            assert lines.wait_for("models reloaded on SIGHUP")["champion"]["version"] == "8"
            load.wait_for_version("8")

            install_bundle(bundle_dir, model_dir)
            reloaded = httpx.post(
                f"{running.url}/v1/admin/reload", headers={"X-API-Key": KEY}, timeout=30
            )
            assert reloaded.status_code == 200, reloaded.text
            assert reloaded.json()["champion"]["version"] == "7"
            load.wait_for_version("7")

            corrupt(model_dir)
            running.process.send_signal(signal.SIGHUP)
            refused = lines.wait_for("model reload refused on SIGHUP")
            assert ARRAYS_FILE in refused["message"]
            count = len(load.versions)
            _wait(lambda: len(load.versions) > count + 50, "answers after the refusal")
            assert set(load.versions[count:]) == {"7"}
        finally:
            load.halt.set()
            load.join(30)
        returncode = running.stop()
    assert load.statuses and set(load.statuses) == {200}
    assert {"7", "8"} <= set(load.versions)
    assert returncode == 0, running.stderr()
