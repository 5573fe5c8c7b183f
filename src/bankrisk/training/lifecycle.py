"""Moving the registry's aliases by hand: `bankrisk promote VERSION` and `bankrisk rollback`.

`promote` runs the same gate as training: the bundles' own test rows are not stored, so both
models are rescored on the test split of a data file (`--data`, split with the configured seed
and test share by `training.splits.split_dev_test`, exactly as `bankrisk train` splits it),
without the rows either was developed on. A version that reads other inputs than the champion
is promoted here only (training never promotes it): asking for it by name is the person's
review of the change, so the gate does not hold it for its inputs, though the comparison and
the fairness policy still apply. If the gate passes (or `--force`), the version
becomes `champion`, the old champion `previous`, and its bundle is exported to the serving
folder; otherwise it becomes the `challenger` and nothing else moves.

`rollback` makes `previous` the champion again (no gate: it was champion before), removes
the `previous` alias (there is one step of history: a second rollback needs a new promotion
first), tags the version rolled back from `lifecycle.rolled_back=true`, and exports the
restored champion's bundle.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from bankrisk.bundle.store import install_bundle
from bankrisk.config import Settings
from bankrisk.data.training_data import read_training_data
from bankrisk.errors import BankRiskError
from bankrisk.training import gate, tracking
from bankrisk.training.splits import split_dev_test


@dataclass(frozen=True)
class PromoteResult:
    version: str
    verdict: gate.GateResult
    replaced_version: str | None  # the old champion, now `previous`
    model_dir: Path | None  # where the new champion's bundle was exported, if promoted


@dataclass(frozen=True)
class RollbackResult:
    restored_version: str  # the champion now
    rolled_back_version: str | None  # the champion before the rollback
    model_dir: Path


def _model_version(settings: Settings, version: str) -> object:
    client = MlflowClient()
    try:
        return client.get_model_version(settings.registered_model_name, version)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise BankRiskError(
                f"{settings.registered_model_name} has no version {version!r}"
            ) from None
        raise BankRiskError(f"cannot read the model registry: {exc}") from exc


def promote_version(
    settings: Settings, version: str, data_path: Path, model_dir: Path, force: bool = False
) -> PromoteResult:
    """Gate `version` against the current champion on the test split of `data_path`."""
    tracking.configure_mlflow(settings)
    candidate = _model_version(settings, version)
    current = gate.alias_version(settings, gate.CHAMPION)
    if current is not None and str(current.version) == version:
        raise BankRiskError(f"v{version} is already the champion")
    data = read_training_data(data_path)
    _, test = split_dev_test(data.labels, settings.test_size, settings.seed)
    split = gate.DataSplit(str(data.fingerprint["sha256"]), settings.seed, settings.test_size)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            new = gate.load_version(settings, candidate, Path(tmp) / "new")
        except gate.GateError as exc:
            raise BankRiskError(f"cannot promote: {exc}") from None
        verdict = gate.promotion_gate(
            settings,
            new.bundle,
            split,
            data.raw[test],
            data.labels[test],
            Path(tmp) / "champion",
            force=force,
            inputs_reviewed=True,  # a person asked for this version: the review of its inputs
        )
        verdict = replace(verdict, extra={"gate.context": f"promote --data {data_path.name}"})
        replaced = gate.apply_verdict(settings, version, verdict)
        gate.record_verdict(settings, version, verdict)
        exported = None
        if verdict.promoted:
            install_bundle(new.directory, model_dir)
            exported = model_dir
    return PromoteResult(version, verdict, replaced, exported)


def rollback(settings: Settings, model_dir: Path) -> RollbackResult:
    """Make the `previous` version champion again and export its bundle."""
    tracking.configure_mlflow(settings)
    previous = gate.alias_version(settings, gate.PREVIOUS)
    if previous is None:
        raise BankRiskError(
            f"{settings.registered_model_name} has no `previous` version to roll back to"
        )
    current = gate.alias_version(settings, gate.CHAMPION)
    restored = str(previous.version)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            loaded = gate.load_version(settings, previous, Path(tmp))
        except gate.GateError as exc:
            raise BankRiskError(f"cannot roll back to v{restored}: {exc}") from None
        gate.set_alias(settings, restored, gate.CHAMPION)
        gate.delete_alias(settings, gate.PREVIOUS)
        old = str(current.version) if current is not None else None
        if old is not None:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            tracking.tag_version(
                settings,
                old,
                {"lifecycle.rolled_back": "true", "lifecycle.rolled_back_at": stamp},
            )
        install_bundle(loaded.directory, model_dir)
    return RollbackResult(restored, old, model_dir)
