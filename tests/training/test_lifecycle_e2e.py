"""End to end on the shared data, in a private MLflow store: the promotion gate's decisions
over several trainings, the registered model in a fresh virtualenv and behind `mlflow models
serve`, and `bankrisk models` / `promote` / `rollback`.

The trainings (one model family each, ~15-25 s) are shared by the module's tests, which run
in file order: the CLI test moves aliases, and the last test corrupts the champion.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli import app
from bankrisk.config import Settings
from bankrisk.schema import FIELD_NAMES
from bankrisk.training.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, PYFUNC_REQUIREMENTS
from bankrisk.training.train import TrainReport, run_training

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.skip("uv is not installed (make install puts it in .tools/bin)")
    return found


@dataclass
class Registry:
    workdir: Path
    settings: Settings
    env: dict[str, str]  # the same settings as environment variables, for the CLI
    reports: list[TrainReport]

    def client(self) -> MlflowClient:
        return MlflowClient(self.settings.mlflow_tracking_uri)

    def version(self, number: str) -> dict[str, str]:
        name = self.settings.registered_model_name
        return dict(self.client().get_model_version(name, number).tags)

    def alias(self, alias: str) -> str:
        name = self.settings.registered_model_name
        return str(self.client().get_model_version_by_alias(name, alias).version)

    def train(self, family: str, force: bool = False, **settings: object) -> TrainReport:
        chosen = self.settings.model_copy(update={"candidates": (family,), **settings})
        report = run_training(self.data, chosen, chosen.model_dir, lambda _: None, force=force)
        self.reports.append(report)
        return report

    data: Path = Path()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> Iterator[Registry]:
    """Three trainings in a private store: a scorecard (first champion), LightGBM on the same
    split (significantly better: promoted), LightGBM on another split (its test rows are mostly
    the champion's development rows: refused)."""
    before = mlflow.get_tracking_uri()
    workdir = tmp_path_factory.mktemp("lifecycle")
    settings = Settings(
        mlflow_tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        mlflow_artifact_root=workdir / "mlartifacts",
        reports_dir=workdir / "reports",
        model_dir=workdir / "models" / "champion",
    )
    env = {
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "BANKRISK_MLFLOW_ARTIFACT_ROOT": str(settings.mlflow_artifact_root),
        "BANKRISK_REPORTS_DIR": str(settings.reports_dir),
        "BANKRISK_MODEL_DIR": str(settings.model_dir),
    }
    reg = Registry(workdir, settings, env, [], shared_csv)
    reg.train("scorecard")
    reg.train("gbm")
    reg.train("gbm", seed=7)
    yield reg
    mlflow.set_tracking_uri(before)  # the session's other stores set it themselves


def test_first_model_becomes_champion(registry: Registry) -> None:
    first = registry.reports[0]
    assert first.alias == "champion" and first.gate_reason == "no champion yet"
    tags = registry.version("1")
    assert tags["gate.decision"] == "champion" and tags["gate.champion_version"] == "none"
    assert tags["gate.context"] == "train"
    assert tags["model_family"] == "scorecard" and len(tags["data.sha256"]) == 64
    assert tags["split.seed"] == "42" and tags["split.test_size"] == "0.2"


def test_a_significantly_better_model_is_promoted_on_the_same_rows(registry: Registry) -> None:
    second = registry.reports[1]
    assert second.alias == "champion" and second.replaced_version == "1"
    assert second.verdict is not None and second.verdict.comparison is not None
    comparison = second.verdict.comparison
    assert comparison.same_data and comparison.rows > 4700  # duplicates of dev rows excluded
    assert comparison.auc_new > comparison.auc_champion and comparison.delong_p < 0.05
    assert second.gate_reason.startswith("better on ")
    assert registry.alias("champion") == "2" and registry.alias("previous") == "1"
    # The comparison is on the version and on the run, as tags and metrics.
    tags = registry.version("2")
    assert tags["gate.decision"] == "champion" and tags["gate.champion_version"] == "1"
    assert tags["gate.rows_case"] == "same data and split"
    assert float(tags["gate.delong_p"]) == pytest.approx(comparison.delong_p)
    run = registry.client().get_run(second.parent_run_id)
    assert run.data.metrics["gate.auc_new"] == pytest.approx(comparison.auc_new)
    assert run.data.metrics["gate.brier_champion"] == pytest.approx(comparison.brier_champion)
    assert run.data.tags["gate.decision"] == "champion"
    meta = json.loads((registry.settings.model_dir / "metadata.json").read_text())
    assert meta["version"] == "2" and meta["model_family"] == "gbm"


def test_another_split_is_not_compared_on_the_champions_training_rows(
    registry: Registry,
) -> None:
    third = registry.reports[2]
    assert third.alias == "challenger" and not third.bundle_exported
    assert "were used to train one of the models" in third.gate_reason
    assert registry.alias("challenger") == "3" and registry.alias("champion") == "2"
    assert registry.version("3")["gate.decision"] == "challenger"
    assert registry.version("3")["split.seed"] == "7"


def test_every_run_is_in_the_named_experiment(registry: Registry) -> None:
    client = registry.client()
    experiment = client.get_experiment_by_name(registry.settings.experiment_name)
    assert experiment is not None
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert {r.info.experiment_id for r in runs} == {experiment.experiment_id}
    assert len(runs) == 3 * 2  # each training: a parent and its one candidate
    assert not (registry.workdir / "mlruns").exists()


@pytest.fixture(scope="module")
def champion_model(registry: Registry) -> Path:
    """The registered champion's files (LightGBM: onnxruntime), downloaded."""
    mlflow.set_tracking_uri(registry.settings.mlflow_tracking_uri)
    dest = registry.workdir / "champion-model"
    name = registry.settings.registered_model_name
    return Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(dest)))


@pytest.fixture(scope="module")
def sample(shared_csv: Path, champion_model: Path) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(shared_csv).head(25)  # int64 columns, ID and target included
    bundle = ModelBundle.load(champion_model / "artifacts" / "bundle")
    return frame, bundle.predict_pd(frame[list(FIELD_NAMES)].to_numpy(dtype=float))


def test_requirements_are_complete_and_pinned(champion_model: Path) -> None:
    lines = (champion_model / "requirements.txt").read_text().split()
    names = [line.split("==")[0] for line in lines]
    assert names == list(PYFUNC_REQUIREMENTS)
    assert all("==" in line and line.split("==")[1] for line in lines)
    assert "onnxruntime" in names
    # Not the repository's uv project: `--env-manager uv` would `uv sync` it instead.
    assert not {"uv.lock", "pyproject.toml"} & {p.name for p in champion_model.iterdir()}


def test_registered_model_predicts_in_a_fresh_virtualenv(
    registry: Registry, champion_model: Path, sample: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Only the model's own requirements.txt: what `mlflow models serve` and spark_udf build."""
    uv = _uv()
    venv = registry.workdir / "fresh-venv"
    subprocess.run([uv, "venv", "-q", "--python", "3.11", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-r",
            str(champion_model / "requirements.txt"),
        ],
        check=True,
        timeout=600,
    )
    frame, expected = sample
    rows = registry.workdir / "rows.csv"
    frame.to_csv(rows, index=False)
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print(json.dumps([float(p) for p in model.predict(pd.read_csv(sys.argv[2]))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run(
        [str(python), "-c", script, str(champion_model), str(rows)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=registry.workdir,  # not the repository: bankrisk comes from the model's code
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pds = np.asarray(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(pds, expected, rtol=0, atol=1e-12)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mlflow_models_serve_builds_its_own_environment(
    registry: Registry, champion_model: Path, sample: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """`mlflow models serve --env-manager uv`: a virtualenv from the model's requirements."""
    uv = _uv()
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_ENV_ROOT": str(registry.workdir / "mlflow-envs"),
    }
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    log = (registry.workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [
            mlflow_cli,
            "models",
            "serve",
            "-m",
            str(champion_model),
            "--env-manager",
            "uv",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        cwd=registry.workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (registry.workdir / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start in 240 s"
                time.sleep(1)
        frame, expected = sample
        body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        np.testing.assert_allclose(answer["predictions"], expected, rtol=0, atol=1e-12)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_models_promote_and_rollback_commands(registry: Registry, shared_csv: Path) -> None:
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=registry.env)
        return result.exit_code, result.output

    model_dir = registry.settings.model_dir

    def served_version() -> str:
        return str(json.loads((model_dir / "metadata.json").read_text())["version"])

    code, out = cli("models")
    assert code == 0, out
    for line, aliases, family in (
        ("3", "challenger", "gbm"),
        ("2", "champion", "gbm"),
        ("1", "previous", "scorecard"),
    ):
        row = next(r for r in out.splitlines() if r.strip("│ ").startswith(line + " "))
        assert (
            aliases in row and family in row and registry.version(line)["data.sha256"][:12] in row
        )

    code, out = cli("rollback")
    assert code == 0, out
    assert "champion is v1 again (was v2)" in out
    assert registry.alias("champion") == "1" and served_version() == "1"
    assert registry.version("2")["lifecycle.rolled_back"] == "true"
    code, out = cli("rollback")
    assert code == 2 and "no `previous` version to roll back to" in out

    code, out = cli("promote", "2", "--data", str(shared_csv))
    assert code == 0, out
    assert "v2 is now the champion; v1 is now `previous` (better on" in out
    assert registry.alias("champion") == "2" and registry.alias("previous") == "1"
    assert served_version() == "2"
    assert registry.version("2")["gate.context"] == f"promote --data {shared_csv.name}"

    code, out = cli("promote", "3", "--data", str(shared_csv))
    assert code == 1, out
    assert "Not promoted: bank-default-risk v3 is the challenger" in out
    assert registry.alias("champion") == "2" and served_version() == "2"

    code, out = cli("promote", "2", "--data", str(shared_csv))
    assert code == 2 and "v2 is already the champion" in out
    code, out = cli("promote", "99", "--data", str(shared_csv))
    assert code == 2 and "has no version '99'" in out


def test_a_champion_that_cannot_be_loaded_is_not_replaced_unless_forced(
    registry: Registry, shared_csv: Path
) -> None:
    client = registry.client()
    name = registry.settings.registered_model_name
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == "2"
    # The champion's stored bundle: the one in the artifact store whose metadata says v2.
    (arrays,) = (
        path.with_name("model.npz")
        for path in registry.settings.mlflow_artifact_root.glob("**/bundle/metadata.json")
        if json.loads(path.read_text())["version"] == "2"
    )
    with arrays.open("ab") as fh:  # the manifest's sha256 no longer matches
        fh.write(b"corrupt")
    served = (registry.settings.model_dir / "metadata.json").read_text()

    blocked = registry.train("gbm")
    assert blocked.alias == "challenger" and not blocked.bundle_exported
    assert blocked.gate_reason.startswith("no comparison: champion v2's bundle cannot be loaded")
    assert "model.npz" in blocked.gate_reason
    assert registry.alias("champion") == "2" and registry.alias("challenger") == "4"
    assert registry.version("4")["gate.decision"] == "challenger"
    assert (registry.settings.model_dir / "metadata.json").read_text() == served

    code_out = CliRunner().invoke(
        app,
        ["train", "--data", str(shared_csv), "--force"],
        env={**registry.env, "BANKRISK_CANDIDATES": "gbm"},
    )
    assert code_out.exit_code == 0, code_out.output
    assert "with alias champion (forced; no comparison: champion v2's bundle" in " ".join(
        code_out.output.split()
    )
    assert registry.alias("champion") == "5" and registry.alias("previous") == "2"
    assert registry.version("5")["gate.forced"] == "true"
    meta = json.loads((registry.settings.model_dir / "metadata.json").read_text())
    assert meta["version"] == "5"
