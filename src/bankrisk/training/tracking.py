"""MLflow: experiment set-up, run provenance and model registration.

The promotion gate (which alias a registered version gets) lives in `training.gate`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from bankrisk.bundle.store import BUNDLE_ARTIFACT
from bankrisk.config import Settings
from bankrisk.errors import BankRiskError

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
TRACKED_PACKAGES = (
    "bankrisk",
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "tensorflow-cpu",
    "keras",
    "mlflow",
)
# The experiment tag the MLflow 3 UI reads to tell model training ("custom model development")
# from GenAI experiments (`mlflow.experimentKind`; see mlflow/server/js ExperimentKind).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Every distribution the registered pyfunc imports when it is loaded and predicts
# (pyfunc_model.py -> bankrisk.bundle, .features, .data.validate, .schema; the boosted trees run
# in onnxruntime), pinned at logging time to the versions installed (`pinned_requirements`), so
# `mlflow models serve`, `spark_udf` and a fresh virtualenv rebuild what was tested.
# mlflow-skinny is enough to load and serve a pyfunc (its scoring server is FastAPI/uvicorn);
# the full `mlflow` would add the tracking server, scikit-learn, matplotlib and more.
# pydantic-settings: bankrisk.config, which the shipped package may import.
PYFUNC_REQUIREMENTS = (
    "mlflow-skinny",
    "numpy",
    "pandas",
    "onnxruntime",
    "pydantic",
    "pydantic-settings",
)


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow at the tracking store and return the experiment id, creating it if new.

    Runs must be started with this id (`mlflow.start_run(experiment_id=...)`): without it they
    land in the `Default` experiment, with artifacts under `./mlruns/0`. The experiment is
    tagged as model training, so the MLflow UI shows it as such rather than as GenAI.
    """
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        experiment = mlflow.get_experiment_by_name(settings.experiment_name)
        if experiment is not None:
            experiment_id = str(experiment.experiment_id)
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                MlflowClient().set_experiment_tag(
                    experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
                )
            return experiment_id
        # A local store keeps artifacts in a known folder; a server decides for itself.
        local = settings.mlflow_tracking_uri.startswith(("sqlite:", "file:", "/"))
        location = settings.mlflow_artifact_root.resolve().as_uri() if local else None
        return str(
            mlflow.create_experiment(
                settings.experiment_name,
                artifact_location=location,
                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
            )
        )
    except Exception as exc:  # MLflow raises many types for an unreachable or bad store
        raise BankRiskError(
            f"cannot use the MLflow tracking store {settings.mlflow_tracking_uri!r}: {exc}"
        ) from exc


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=PACKAGE_DIR,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def pinned_requirements(names: tuple[str, ...] = PYFUNC_REQUIREMENTS) -> list[str]:
    """`name==version` of each distribution as installed now; BankRiskError if one is not."""
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            raise BankRiskError(
                f"cannot log the model's requirements: {name} is not installed"
            ) from None
    return pins


def provenance_tags(fingerprint: dict[str, Any]) -> dict[str, str]:
    tags = {"git_commit": git_commit(), "data_sha256": str(fingerprint["sha256"])}
    tags.update({f"version.{k}": v for k, v in package_versions().items()})
    return tags


def next_model_version(client: MlflowClient, name: str) -> int:
    """The version number the registry will give the next registration of `name`."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except mlflow.exceptions.MlflowException:
        return 1
    return max((int(v.version) for v in versions), default=0) + 1


def log_bundle_model(bundle_dir: Path, settings: Settings) -> str:
    """Log the bundle as a pyfunc model in the active run, register it; return its version.

    No signature: MLflow's schema enforcement refuses int64 columns where it expects doubles
    (and the reverse), while the model's own validation accepts any numeric column types and
    names the column when one is wrong.
    """
    if bundle_dir.name != BUNDLE_ARTIFACT:
        # MLflow stores an artifact folder under `artifacts/` by the folder's own name, and
        # every reader looks for BUNDLE_ARTIFACT_PATH.
        raise ValueError(f"log the bundle from a folder named {BUNDLE_ARTIFACT!r}: {bundle_dir}")
    with _no_uv_project_files():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE),
            artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
            code_paths=[str(PACKAGE_DIR)],
            pip_requirements=pinned_requirements(),
            registered_model_name=settings.registered_model_name,
        )
    return str(info.registered_model_version)


@contextmanager
def _no_uv_project_files() -> Iterator[None]:
    """Log the model's own requirements only. Run from a uv project (this repository), MLflow 3
    also copies its uv.lock and pyproject.toml into the model, and `mlflow models serve
    --env-manager uv` then `uv sync`s the whole project (training stack and all) instead of
    installing requirements.txt, and fails outside the repository."""
    saved = {k: os.environ.get(k) for k in _UV_SWITCHES}
    os.environ.update(dict.fromkeys(_UV_SWITCHES, "false"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_UV_SWITCHES = ("MLFLOW_LOG_UV_FILES", "MLFLOW_UV_AUTO_DETECT")


def tag_version(settings: Settings, version: str, tags: dict[str, str]) -> None:
    """Set tags on a registered model version."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(settings.registered_model_name, version, key, value)


def version_tags(family: str, metrics: dict[str, float], run_id: str) -> dict[str, str]:
    """What `bankrisk models` lists of a version: its family and test metrics."""
    return {
        "model_family": family,
        "test_roc_auc": repr(float(metrics["roc_auc"])),
        "test_brier": repr(float(metrics["brier"])),
        "run_id": run_id,
    }


def list_versions(settings: Settings) -> list[dict[str, Any]]:
    """Every registered version, newest first: number, aliases, tags, creation time (UTC)."""
    client = MlflowClient()
    name = settings.registered_model_name
    try:
        versions = client.search_model_versions(f"name = '{name}'")
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise BankRiskError(f"cannot read the model registry: {exc}") from exc
    aliases: dict[str, list[str]] = {}
    for alias, number in (model.aliases or {}).items():
        aliases.setdefault(str(number), []).append(alias)
    rows = [
        {
            "version": str(v.version),
            "aliases": sorted(aliases.get(str(v.version), [])),
            "tags": dict(v.tags or {}),
            "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC),
        }
        for v in versions
    ]
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)
