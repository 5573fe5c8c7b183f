"""MLflow: experiment set-up, run provenance and model registration.

The promotion gate (which alias a registered version gets) lives in `training.gate`.
"""

from __future__ import annotations

import subprocess
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
# What `mlflow models serve` needs to run the pyfunc in a fresh environment.
PYFUNC_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pydantic", "pydantic-settings")


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
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PYFUNC_CODE),
        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=list(PYFUNC_REQUIREMENTS),
        registered_model_name=settings.registered_model_name,
    )
    return str(info.registered_model_version)
