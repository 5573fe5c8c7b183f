"""Fixtures of the scoring-API tests: one real bundle (saved and loaded back, as served), and
in-process apps built around it with `create_app`, each logging to its own StringIO."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.schemas import EXAMPLE_CUSTOMER
from bankrisk.serving.scorer import Scorer
from factories import make_bundle, make_raw
from serving.support import Api, TestClient, to_customer


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test bundle on disk: boosted trees on synthetic data (risk rises with PAY_0)."""
    directory = tmp_path_factory.mktemp("bundle")
    make_bundle().save(directory)
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
    """Build an app: `make_api(Settings(...), scorer=None)` for one that is not ready."""
    clients: list[TestClient] = []

    def build(settings: Settings | None = None, *, loaded: bool = True) -> Api:
        log = io.StringIO()
        app = create_app(settings or Settings(), scorer if loaded else None, logger=JsonLogger(log))
        # raise_server_exceptions=False: a 500 is asserted as the client would see it.
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return Api(client, log, app)

    yield build
    for client in clients:
        client.close()


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
