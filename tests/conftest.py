"""Shared fixtures (fixtures live only in conftest files; helpers in tests/helpers):

- the read-only data files in ../shared/data (never copied into the repository);
- one champion trained on them per test session (tests/training, tests/model);
- one small real bundle with reference distributions (monitoring and operations tests);
- the small real bundles the serving, core and portfolio tests score with (a champion and a
  challenger), and in-process apps built around them with `create_app` (`make_api`: each logs
  to its own StringIO and writes no prediction log unless a test asks for one);
- a private PostgreSQL server per session, a fresh database per test (`pg_url`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.prediction_log.opening import PredictionStore, open_log
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.schemas import EXAMPLE_CUSTOMER
from helpers.api import Api, TestClient, to_customer
from helpers.factories import make_bundle, make_raw
from helpers.postgres import PostgresServer
from helpers.trained import Trained
from helpers.worker_groups import TrainingTogether, name_groups_file, write_training_files

# gRPC (the Bigtable, Datastore and Pub/Sub clients some tests run in-process) registers fork
# handlers that run in every child forked with a `preexec_fn`, as PySpark starts its JVM: in a
# worker that had used gRPC, that child failed before running Java (a test session's Spark
# failed to start). Set before any test imports gRPC.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--model-dir",
        default=None,
        help="run tests/model against this serving bundle instead of the session's training",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        name_groups_file()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    write_training_files(items)


@pytest.hookimpl(tryfirst=True)  # before xdist's own choice
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> TrainingTogether:
    """`make unit`'s workers: helpers/worker_groups.py."""
    return TrainingTogether(config, log)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared data directory next to the repository."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    # CI always has ../shared beside the clone: a missing folder is a failure, not a skip.
    assert path.is_dir(), f"shared data directory not found: {path}"
    return path


@pytest.fixture(scope="session")
def shared_csv(shared_data_dir: Path) -> Path:
    """The 24,000-row CSV (one header row)."""
    return shared_data_dir / "default_of_credit_card_clients.csv"


@pytest.fixture(scope="session")
def shared_xls(shared_data_dir: Path) -> Path:
    """The first 10,000 rows of the official file as a legacy .xls in the UCI layout."""
    return shared_data_dir / "default_of_credit_card_clients_first10k.xls"


@pytest.fixture(scope="session")
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    return make_raw(3000)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> Trained:
    """Train once per session: MLflow store, artifacts, reports and the champion's bundle all
    in a temporary folder, named explicitly (nothing depends on the working directory). Only
    tests marked slow use it. The MLP stops after 8 epochs (the default allows 60): these tests
    check the pipeline, not how well the MLP fits (benchmarks/model_quality.py does), and its
    epochs were two thirds of the training's CPU. The champion is the same LightGBM."""
    from bankrisk.config import Settings
    from bankrisk.training.train import run_training

    workdir = tmp_path_factory.mktemp("train")
    settings = Settings(
        mlflow_tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        mlflow_artifact_root=workdir / "mlartifacts",
        reports_dir=workdir / "reports",
        model_dir=workdir / "models" / "champion",
        mlp_epochs=8,
    )
    report = run_training(shared_csv, settings, settings.model_dir, lambda _: None)
    return Trained(settings, report, workdir)


@pytest.fixture(scope="session")
def small_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real bundle (tests/factories) with reference distributions of its training
    rows, as training writes them."""
    from helpers.factories import make_monitored_bundle

    bundle = make_monitored_bundle()
    directory = tmp_path_factory.mktemp("small-bundle")
    bundle.save(directory)
    return directory


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
def example() -> dict[str, Any]:
    """The OpenAPI example customer (a fresh copy)."""
    return dict(EXAMPLE_CUSTOMER)


@pytest.fixture(scope="session")
def random_customers() -> list[dict[str, Any]]:
    """200 valid customers (not the training rows), with ids."""
    raw, _ = make_raw(200, seed=11)
    return [to_customer(row, f"R-{i:03d}") for i, row in enumerate(raw)]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    if not _running(postgres):
        postgres.start()
    return postgres.create_database()


def _running(server: PostgresServer) -> bool:
    proc = server._run("pg_ctl", "-D", str(server.data), "status", check=False)
    return proc.returncode == 0


@pytest.fixture
def make_api(scorer: Scorer, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Build an app: `make_api(Settings(...), loaded=False)` for one that is not ready,
    `make_api(prediction_log=URL)` for one that writes the prediction log (the other log
    settings from `settings`; its spool in the test's folder unless they name one),
    `make_api(scorer=...)` around another model."""
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
            if settings.prediction_log_spool == Settings().prediction_log_spool:
                spool = str(tmp_path / f"spool-{len(apps)}")
                settings = settings.model_copy(update={"prediction_log_spool": spool})
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
