"""Fixtures of the scoring-API tests: one real bundle (saved and loaded back, as served), and
in-process apps built around it with `create_app`, each logging to its own StringIO.

In-process apps write no prediction log unless a test asks for one
(`make_api(prediction_log=URL)`)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.opening import PredictionStore, open_log
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.schemas import EXAMPLE_CUSTOMER
from factories import make_bundle, make_raw
from serving.support import Api, TestClient, to_customer


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test bundle on disk: boosted trees on synthetic data (risk rises with PAY_0)."""
    directory = tmp_path_factory.mktemp("bundle")
    make_bundle().save(directory)
    return directory


@pytest.fixture(scope="session")
def challenger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second bundle on disk, another model and version ("8"): a scorecard on the same
    synthetic data (challenger and reload tests)."""
    directory = tmp_path_factory.mktemp("challenger")
    challenger = make_bundle(family="scorecard")
    challenger.metadata["version"] = "8"
    challenger.save(directory)
    return directory


@pytest.fixture(scope="session")
def bundle(bundle_dir: Path) -> ModelBundle:
    """The bundle as `bankrisk serve` has it: loaded back from disk."""
    return ModelBundle.load(bundle_dir)


@pytest.fixture(scope="session")
def scorer(bundle: ModelBundle) -> Scorer:
    return Scorer(bundle)


@pytest.fixture
def make_api(scorer: Scorer) -> Iterator[Callable[..., Api]]:
    """Build an app: `make_api(Settings(...), loaded=False)` for one that is not ready,
    `make_api(prediction_log=URL)` for one that writes the prediction log (the other log
    settings from `settings`), `make_api(scorer=...)` around another model."""
    clients: list[TestClient] = []
    stores: list[PredictionStore] = []
    apps: list[Any] = []

    def build(
        settings: Settings | None = None,
        *,
        loaded: bool = True,
        prediction_log: str | None = None,
        scorer: Scorer = scorer,
    ) -> Api:
        settings = settings or Settings()
        store = None
        if prediction_log is not None:
            store = open_log(settings.model_copy(update={"prediction_log": prediction_log}))
            if store is not None:
                stores.append(store)
        log = io.StringIO()
        app = create_app(
            settings, scorer if loaded else None, logger=JsonLogger(log), prediction_store=store
        )
        apps.append(app)
        # What `bankrisk serve` runs (the scoring shortcut in front of the app);
        # raise_server_exceptions=False: a 500 is asserted as the client would see it.
        client = TestClient(app.state.entry, raise_server_exceptions=False)
        clients.append(client)
        return Api(client, log, app)

    yield build
    for client in clients:
        client.close()
    for app in apps:
        writer = app.state.service.log_writer
        if writer is not None:
            writer.close(5)
    for store in stores:
        store.close()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """The default app: auth off, default limits."""
    return make_api()


@pytest.fixture
def example() -> dict[str, Any]:
    """The OpenAPI example customer (a fresh copy)."""
    return dict(EXAMPLE_CUSTOMER)


@pytest.fixture(scope="session")
def random_customers() -> list[dict[str, Any]]:
    """200 valid customers (not the training rows), with ids."""
    raw, _ = make_raw(200, seed=11)
    return [to_customer(row, f"R-{i:03d}") for i, row in enumerate(raw)]
