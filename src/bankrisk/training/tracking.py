"""MLflow: experiment set-up, run provenance, model registration and the promotion gate."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.errors import BankRiskError

CHAMPION, CHALLENGER = "champion", "challenger"
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
# What `mlflow models serve` needs to run the pyfunc in a fresh environment.
PYFUNC_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pydantic", "pydantic-settings")


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow at the tracking store and return the experiment id, creating it if new."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        experiment = mlflow.get_experiment_by_name(settings.experiment_name)
        if experiment is not None:
            return str(experiment.experiment_id)
        # A local store keeps artifacts in a known folder; a server decides for itself.
        local = settings.mlflow_tracking_uri.startswith(("sqlite:", "file:", "/"))
        location = settings.mlflow_artifact_root.resolve().as_uri() if local else None
        return str(mlflow.create_experiment(settings.experiment_name, artifact_location=location))
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
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PYFUNC_CODE),
        artifacts={"bundle": str(bundle_dir)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=list(PYFUNC_REQUIREMENTS),
        registered_model_name=settings.registered_model_name,
    )
    return str(info.registered_model_version)


@dataclass(frozen=True)
class GateResult:
    alias: str
    reason: str
    previous_version: str | None
    previous_auc: float | None


def champion_bundle(settings: Settings, dest: Path) -> tuple[str, ModelBundle] | None:
    """Download the registry's current champion bundle, if there is one."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    path = mlflow.artifacts.download_artifacts(
        f"models:/{settings.registered_model_name}@{CHAMPION}", dst_path=str(dest)
    )
    return str(version.version), ModelBundle.load(Path(path) / "artifacts" / "bundle")


def promotion_decision(new_auc: float, previous_auc: float | None, min_gain: float) -> str:
    """`champion` if there is none yet or the new model beats it by more than `min_gain`."""
    if previous_auc is None or new_auc > previous_auc + min_gain:
        return CHAMPION
    return CHALLENGER


def set_alias(settings: Settings, version: str, alias: str) -> None:
    MlflowClient().set_registered_model_alias(settings.registered_model_name, alias, version)
