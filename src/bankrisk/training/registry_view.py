"""The registry as a reader sees it: each registered version with its aliases, the gate's
verdict, the fairness verdict and whether its inputs changed, as typed values.

`bankrisk models` prints this; the console's Models page reads it too. Everything comes from
the model version's tags (written by the gate, `training.gate.GateResult.tags`). A version
registered before the gate recorded fairness has no fairness tags: with `read_bundles` its
verdict is read from its bundle's `metadata.json` in the artifact store instead (nothing is
written back).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import mlflow

from bankrisk.bundle.store import BUNDLE_ARTIFACT_PATH, METADATA_FILE
from bankrisk.config import Settings
from bankrisk.training.fairness_verdict import (
    FAIRNESS_FINDINGS_TAG,
    FAIRNESS_PASSED_TAG,
    FAIRNESS_POLICY_TAG,
    NO_FINDINGS,
    FairnessVerdict,
)
from bankrisk.training.model_inputs import (
    INPUTS_CHANGE_TAG,
    INPUTS_CHANGED_TAG,
    INPUTS_TAG,
    parse_inputs,
)
from bankrisk.training.tracking import list_versions


def _flag(value: str | None) -> bool | None:
    """A "true"/"false" tag; None when absent or anything else ("unknown")."""
    return {"true": True, "false": False}.get(value or "")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class VersionFairness:
    """A version's four-fifths verdict: `passed` None when unknown (no report, no tags)."""

    passed: bool | None
    findings: str  # the failing attributes, e.g. "AGE_BAND 0.73 < 0.8 (55+ 61% vs 35-44 83%)"
    policy: str | None  # the gate's `gate_fairness` when it judged the version; None: not judged

    def label(self) -> str:
        """`passed`, `FAILED: AGE_BAND 0.73` (each failing attribute and its ratio), or `-`
        when unknown."""
        if self.passed is None:
            return "-"
        if self.passed:
            return "passed"
        # Each finding reads "ATTRIBUTE RATIO < 0.8 (rates)" (`AttributeVerdict.finding`).
        failing = [" ".join(f.split()[:2]) for f in self.findings.split("; ") if f.strip()]
        return f"FAILED: {', '.join(failing)}"


@dataclass(frozen=True)
class VersionInputs:
    """The raw fields a version reads and whether they differ from the champion's when the
    gate judged it (`changed` None: unknown)."""

    fields: tuple[str, ...] | None
    changed: bool | None
    change: str | None  # e.g. "EDUCATION added"

    def label(self) -> str:
        """`CHANGED: EDUCATION added`, `same`, or `-` when unknown."""
        if self.changed is None:
            return "-"
        return f"CHANGED: {self.change or 'yes'}" if self.changed else "same"


@dataclass(frozen=True)
class RegisteredVersion:
    """One registered version of the model, as the registry records it."""

    version: str
    aliases: tuple[str, ...]
    created: datetime  # UTC
    model_family: str | None
    test_roc_auc: float | None
    test_brier: float | None
    data_sha256: str | None
    split: str | None  # "seed 42, test 0.2"
    gate_decision: str | None  # champion | challenger; None: never judged
    gate_reason: str | None
    gate_forced: bool
    held_by: tuple[str, ...]  # checks that kept it from champion: "fairness", "inputs"
    fairness: VersionFairness
    inputs: VersionInputs
    rolled_back: bool
    tags: Mapping[str, str]  # every tag, for what this view does not name


def _fairness(tags: Mapping[str, str]) -> VersionFairness:
    return VersionFairness(
        passed=_flag(tags.get(FAIRNESS_PASSED_TAG)),
        findings=tags.get(FAIRNESS_FINDINGS_TAG, NO_FINDINGS),
        policy=tags.get(FAIRNESS_POLICY_TAG),
    )


def version_of(
    number: str, aliases: tuple[str, ...], created: datetime, tags: Mapping[str, str]
) -> RegisteredVersion:
    """A version's view from its tags."""
    seed, test_size = tags.get("split.seed"), tags.get("split.test_size")
    held = tags.get("gate.held_by", "none")
    return RegisteredVersion(
        version=number,
        aliases=aliases,
        created=created,
        model_family=tags.get("model_family"),
        test_roc_auc=_number(tags.get("test_roc_auc")),
        test_brier=_number(tags.get("test_brier")),
        data_sha256=tags.get("data.sha256"),
        split=f"seed {seed}, test {test_size}" if seed and test_size else None,
        gate_decision=tags.get("gate.decision"),
        gate_reason=tags.get("gate.reason"),
        gate_forced=tags.get("gate.forced") == "true",
        held_by=tuple(h for h in held.split(",") if h and h != "none"),
        fairness=_fairness(tags),
        inputs=VersionInputs(
            fields=parse_inputs(tags.get(INPUTS_TAG)),
            changed=_flag(tags.get(INPUTS_CHANGED_TAG)),
            change=tags.get(INPUTS_CHANGE_TAG),
        ),
        rolled_back=tags.get("lifecycle.rolled_back") == "true",
        tags=dict(tags),
    )


def bundle_fairness(settings: Settings, version: str) -> FairnessVerdict:
    """The fairness verdict in a registered version's bundle metadata (downloaded alone); an
    empty verdict if it cannot be read."""
    name = settings.registered_model_name
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                f"models:/{name}/{version}/{BUNDLE_ARTIFACT_PATH}/{METADATA_FILE}", dst_path=tmp
            )
            metadata = json.loads(Path(path).read_text(encoding="utf-8"))
        except Exception:  # a missing or unreadable artifact: the verdict stays unknown
            return FairnessVerdict(())
    return FairnessVerdict.of_metadata(metadata if isinstance(metadata, dict) else {})


def registered_versions(settings: Settings, read_bundles: bool = True) -> list[RegisteredVersion]:
    """Every registered version, newest first (MLflow must point at the store:
    `tracking.configure_mlflow`). BankRiskError if the registry cannot be read."""
    views = []
    for row in list_versions(settings):
        view = version_of(row["version"], tuple(row["aliases"]), row["created"], row["tags"])
        if read_bundles and view.fairness.passed is None and FAIRNESS_PASSED_TAG not in view.tags:
            found = bundle_fairness(settings, view.version)
            view = replace(view, fairness=VersionFairness(found.passed, found.findings(), None))
        views.append(view)
    return views
