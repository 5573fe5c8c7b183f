"""A private MLflow registry (SQLite in a temporary folder) with small real bundles registered
and judged by the real promotion gate: the gate's records without a full training."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
from typer.testing import CliRunner

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import BUNDLE_ARTIFACT
from bankrisk.cli import app
from bankrisk.config import Settings
from bankrisk.training import gate, tracking


@dataclass(frozen=True)
class SmallRegistry:
    workdir: Path
    settings: Settings
    env: dict[str, str]  # the same settings as environment variables, for the CLI

    @classmethod
    def create(cls, workdir: Path) -> SmallRegistry:
        settings = Settings(
            mlflow_tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
            mlflow_artifact_root=workdir / "mlartifacts",
            reports_dir=workdir / "reports",
            model_dir=workdir / "models" / "champion",
        )
        env = {
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "BANKRISK_MLFLOW_ARTIFACT_ROOT": str(settings.mlflow_artifact_root),
            "BANKRISK_MODEL_DIR": str(settings.model_dir),
        }
        return cls(workdir, settings, env)

    def register(self, bundle: ModelBundle, split: gate.DataSplit) -> str:
        """Log and register `bundle` as training does; tag the version with `split`."""
        experiment = tracking.configure_mlflow(self.settings)
        number = tracking.next_model_version(
            mlflow.tracking.MlflowClient(), self.settings.registered_model_name
        )
        folder = self.workdir / f"bundle-{number}" / BUNDLE_ARTIFACT
        bundle.save(folder)
        with mlflow.start_run(experiment_id=experiment):
            version = tracking.log_bundle_model(folder, self.settings)
        tracking.tag_version(self.settings, version, split.tags())
        return version

    def judge(
        self,
        version: str,
        bundle: ModelBundle,
        split: gate.DataSplit,
        rows: np.ndarray,
        labels: np.ndarray,
        settings: Settings | None = None,
    ) -> gate.GateResult:
        """The real gate (the champion downloaded from this registry), its verdict applied
        and recorded on the version, as training does."""
        chosen = settings or self.settings
        tracking.configure_mlflow(chosen)
        verdict = gate.promotion_gate(
            chosen, bundle, split, rows, labels, self.workdir / f"judge-{version}"
        )
        gate.apply_verdict(chosen, version, verdict)
        gate.record_verdict(chosen, version, verdict)
        return verdict

    def tags(self, version: str) -> dict[str, str]:
        client = mlflow.tracking.MlflowClient(self.settings.mlflow_tracking_uri)
        return dict(client.get_model_version(self.settings.registered_model_name, version).tags)


@dataclass(frozen=True)
class CommandRun:
    exit_code: int
    output: str

    @property
    def text(self) -> str:
        """The output on one line, words separated by one space (Rich wraps long lines)."""
        return " ".join(self.output.split())


@dataclass
class GatedTrainings:
    """`bankrisk` commands run in-process against one private registry, in order."""

    registry: SmallRegistry
    runs: list[CommandRun] = field(default_factory=list)

    def cli(self, *args: str, **env: str) -> CommandRun:
        result = CliRunner().invoke(
            app,
            list(args),
            env={
                **self.registry.env,
                "BANKRISK_REPORTS_DIR": str(self.registry.settings.reports_dir),
                **env,
            },
        )
        return CommandRun(result.exit_code, result.output)

    def train(self, data: Path, **env: str) -> CommandRun:
        run = self.cli("train", "--data", str(data), **env)
        assert run.exit_code == 0, run.output
        self.runs.append(run)
        return run
