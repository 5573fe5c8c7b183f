"""The promotion gate: does a newly registered model become the champion?

The registry's current champion is scored on this run's test rows and the new model must beat
its test AUC by more than `settings.promotion_min_auc_gain`; otherwise the new version is
only the challenger. There being no champion yet, or one this code cannot score (its features
changed since), promotes the new model, and the reason says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import BUNDLE_ARTIFACT_PATH
from bankrisk.config import Settings
from bankrisk.errors import BundleError
from bankrisk.evaluation.metrics import classification_metrics

Alias = Literal["champion", "challenger"]
CHAMPION: Alias = "champion"
CHALLENGER: Alias = "challenger"


@dataclass(frozen=True)
class Champion:
    """The registry's current champion: its version, bundle and the bundle's folder."""

    version: str
    bundle: ModelBundle
    directory: Path


# (settings, download folder) -> the current champion, or None if there is none.
ChampionFetcher = Callable[[Settings, Path], Champion | None]


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict on a new model version."""

    alias: Alias
    reason: str
    previous_version: str | None = None
    previous_auc: float | None = None
    # The downloaded champion bundle (to restore a deleted serving folder), if there is one.
    previous_bundle_dir: Path | None = None

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def promotion_decision(new_auc: float, previous_auc: float | None, min_gain: float) -> Alias:
    """`champion` if there is none yet or the new model beats it by more than `min_gain`."""
    if previous_auc is None or new_auc > previous_auc + min_gain:
        return CHAMPION
    return CHALLENGER


def champion_bundle(settings: Settings, dest: Path) -> Champion | None:
    """Download the registry's current champion bundle into `dest`, if there is one."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    path = mlflow.artifacts.download_artifacts(
        f"models:/{settings.registered_model_name}@{CHAMPION}", dst_path=str(dest)
    )
    directory = Path(path) / BUNDLE_ARTIFACT_PATH
    return Champion(str(version.version), ModelBundle.load(directory), directory)


def promotion_gate(
    settings: Settings,
    test_rows: np.ndarray,
    test_labels: np.ndarray,
    new_auc: float,
    workdir: Path,
    fetch_champion: ChampionFetcher = champion_bundle,
) -> GateResult:
    """Score the current champion on the test rows (raw fields) and compare test AUCs."""
    try:
        previous = fetch_champion(settings, workdir)
    except BundleError as exc:
        return GateResult(CHAMPION, f"current champion not comparable ({exc})")
    if previous is None:
        return GateResult(promotion_decision(new_auc, None, 0.0), "no champion yet")
    previous_auc = classification_metrics(
        test_labels, previous.bundle.predict_pd(test_rows), previous.bundle.policy.threshold
    )["roc_auc"]
    return GateResult(
        alias=promotion_decision(new_auc, previous_auc, settings.promotion_min_auc_gain),
        reason=f"test AUC {new_auc:.4f} vs champion v{previous.version} {previous_auc:.4f}",
        previous_version=previous.version,
        previous_auc=previous_auc,
        previous_bundle_dir=previous.directory,
    )


def set_alias(settings: Settings, version: str, alias: Alias) -> None:
    MlflowClient().set_registered_model_alias(settings.registered_model_name, alias, version)
