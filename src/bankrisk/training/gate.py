"""The promotion gate: does a model version become the champion?

The gate never promotes without a paired comparison on the same rows. Both models, the new
version and the registry's current champion, are scored on one set of labelled test rows:

* the comparison rows are the test split of the data the new model was evaluated on (the
  training run's test split; for `bankrisk promote`, the test split of `--data`);
* when the champion was trained on the same data (sha256) with the same split (seed and test
  share), these are its test rows too ("same data and split"); otherwise both are rescored on
  them ("rescored"). Either way, rows either model was developed on (found by content through
  the bundles' `training_rows` digests) are dropped, since a model scores the rows it was
  fitted on optimistically. If fewer than `promotion_min_rows` rows (or no rows of one class)
  remain, or the champion does not record its training rows and the data differ, the gate
  cannot compare fairly and refuses to promote automatically;
* the AUC difference is tested with DeLong's paired test (one-sided: is the new AUC higher?),
  and the Brier scores are compared on the same rows. The new model is promoted only if its
  AUC gain exceeds `promotion_min_auc_gain`, DeLong's p is below `promotion_max_p`, and its
  Brier score is not worse by more than `promotion_brier_tolerance`.

Anything that prevents the comparison -- a champion whose bundle cannot be downloaded, loaded
or scored, or a registry error other than "no champion alias" -- makes the new version the
`challenger`, with the reason, unless the promotion is forced. Only "no champion yet"
promotes without a comparison.

Two more checks can hold back a version the comparison would promote (`--force` overrides
both; every finding is recorded on the version either way):

* fairness: the new model's four-fifths verdict (its fairness report, computed on its test
  split at training). Under `gate_fairness=warn` a failing model is still promoted and the
  finding recorded; under `refuse` it is not (nor a model without a fairness report);
* inputs: a model that reads other raw fields than the champion (EDUCATION or AGE switched on
  or off) is never promoted automatically: a person reviews it and runs `bankrisk promote`,
  which passes `inputs_reviewed` (why: `training.model_inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient
from scipy.stats import rankdata

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import BUNDLE_ARTIFACT_PATH
from bankrisk.config import Settings
from bankrisk.data.training_data import decode_digests, overlap, row_digests
from bankrisk.errors import BankRiskError
from bankrisk.training.fairness_verdict import FairnessVerdict
from bankrisk.training.model_inputs import InputChange, model_inputs

Alias = Literal["champion", "challenger"]
Hold = Literal["fairness", "inputs"]  # what held back a version the comparison would promote
CHAMPION: Alias = "champion"
CHALLENGER: Alias = "challenger"
PREVIOUS = "previous"  # the champion before the current one: `bankrisk rollback` returns to it

# Model version tags: what data a version was trained and tested on.
DATA_SHA256_TAG = "data.sha256"
SPLIT_SEED_TAG = "split.seed"
SPLIT_TEST_SIZE_TAG = "split.test_size"


class GateError(BankRiskError):
    """The champion cannot be compared: the registry failed, or its bundle cannot be used."""


@dataclass(frozen=True)
class DataSplit:
    """What a model was tested on: the data file's sha256 and the split's seed and share."""

    sha256: str
    seed: int
    test_size: float

    def tags(self) -> dict[str, str]:
        return {
            DATA_SHA256_TAG: self.sha256,
            SPLIT_SEED_TAG: str(self.seed),
            SPLIT_TEST_SIZE_TAG: repr(self.test_size),
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> DataSplit | None:
        try:
            return cls(
                tags[DATA_SHA256_TAG], int(tags[SPLIT_SEED_TAG]), float(tags[SPLIT_TEST_SIZE_TAG])
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Champion:
    """The registry's current champion: its version, bundle, the bundle's folder and (if its
    version records it) the data and split it was tested on."""

    version: str
    bundle: ModelBundle
    directory: Path
    data: DataSplit | None = None


# (settings, download folder) -> the current champion, or None if there is none.
ChampionFetcher = Callable[[Settings, Path], Champion | None]


# ---- DeLong's paired test ------------------------------------------------------------------


@dataclass(frozen=True)
class DeLong:
    """DeLong's test of two correlated ROC AUCs on the same rows."""

    auc_a: float
    auc_b: float
    se: float  # standard error of auc_a - auc_b
    z: float
    p_greater: float  # one-sided p-value of H1: AUC_a > AUC_b
    p_two_sided: float

    @property
    def difference(self) -> float:
        return self.auc_a - self.auc_b


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DeLong:
    """Paired DeLong test of AUC(a) vs AUC(b), by the fast algorithm of Sun & Xu (2014).

    The AUC of each model is the mean of its structural components (placement values): for a
    positive, the share of negatives it outranks (ties count half), and vice versa. Their
    covariance across positives and across negatives gives the variance of the difference.
    """
    y = np.asarray(labels).astype(bool).ravel()
    scores = np.vstack([np.asarray(scores_a, float).ravel(), np.asarray(scores_b, float).ravel()])
    if scores.shape[1] != y.size:
        raise ValueError(f"{y.size} labels but {scores.shape[1]} scores")
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes")
    pos, neg = scores[:, y], scores[:, ~y]
    tx = np.vstack([rankdata(row) for row in pos])  # midranks within the positives
    ty = np.vstack([rankdata(row) for row in neg])  # ...within the negatives
    tz = np.vstack(
        [rankdata(row) for row in scores[:, np.r_[np.flatnonzero(y), np.flatnonzero(~y)]]]
    )
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    v01 = (tz[:, :m] - tx) / n  # placement of each positive among the negatives
    v10 = 1.0 - (tz[:, m:] - ty) / m  # ...of each negative among the positives
    s = np.cov(v01) / m + np.cov(v10) / n
    variance = float(s[0, 0] + s[1, 1] - 2.0 * s[0, 1])
    diff = float(aucs[0] - aucs[1])
    if variance <= 0.0:  # identical rankings: no evidence either way
        se, z = 0.0, 0.0
        p_greater, p_two = (0.0, 0.0) if diff > 0 else (1.0, 1.0)
        if diff == 0:
            p_greater, p_two = 0.5, 1.0
    else:
        se = math.sqrt(variance)
        z = diff / se
        p_greater, p_two = _normal_sf(z), 2.0 * _normal_sf(abs(z))
    return DeLong(float(aucs[0]), float(aucs[1]), se, z, p_greater, min(p_two, 1.0))


# ---- the comparison and the decision -------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of the new model and the champion on the same rows."""

    same_data: bool  # True: the champion was tested on the same data and split
    rows: int  # rows compared
    excluded_rows: int  # comparison rows dropped: a model was developed on them
    auc_new: float
    auc_champion: float
    auc_se: float
    delong_p: float  # one-sided: new AUC > champion AUC
    brier_new: float
    brier_champion: float

    @property
    def auc_diff(self) -> float:
        return self.auc_new - self.auc_champion

    @property
    def brier_diff(self) -> float:
        return self.brier_new - self.brier_champion

    @property
    def rows_case(self) -> str:
        return "same data and split" if self.same_data else "rescored on the new test rows"

    def metrics(self) -> dict[str, float]:
        return {
            "gate.rows": float(self.rows),
            "gate.excluded_rows": float(self.excluded_rows),
            "gate.auc_new": self.auc_new,
            "gate.auc_champion": self.auc_champion,
            "gate.auc_diff": self.auc_diff,
            "gate.auc_se": self.auc_se,
            "gate.delong_p": self.delong_p,
            "gate.brier_new": self.brier_new,
            "gate.brier_champion": self.brier_champion,
            "gate.brier_diff": self.brier_diff,
        }


def promotion_decision(comparison: Comparison, settings: Settings) -> tuple[Alias, str]:
    """The rule: a larger AUC by more than the margin, significantly so, and a Brier score not
    worse beyond the tolerance. Returns the alias and the reason, with the numbers."""
    c = comparison
    numbers = (
        f"on {c.rows:,} rows ({c.rows_case}"
        + (f", {c.excluded_rows:,} rows a model was trained on excluded" if c.excluded_rows else "")
        + f"): AUC {c.auc_new:.4f} vs {c.auc_champion:.4f} ({c.auc_diff:+.4f}, DeLong p "
        f"{c.delong_p:.3g}), Brier {c.brier_new:.4f} vs {c.brier_champion:.4f}"
    )
    failures = []
    if not c.auc_diff > settings.promotion_min_auc_gain:
        failures.append(f"AUC gain not above {settings.promotion_min_auc_gain:g}")
    elif not c.delong_p < settings.promotion_max_p:
        failures.append(f"AUC gain not significant (p >= {settings.promotion_max_p:g})")
    if c.brier_diff > settings.promotion_brier_tolerance:
        failures.append(f"Brier worse by more than {settings.promotion_brier_tolerance:g}")
    if failures:
        return CHALLENGER, f"{'; '.join(failures)} {numbers}"
    return CHAMPION, f"better {numbers}"


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict on a model version."""

    alias: Alias
    reason: str
    champion_version: str | None = None  # the champion it was compared with, if any
    comparison: Comparison | None = None
    forced: bool = False
    # The downloaded champion bundle (to restore a deleted serving folder), if there is one.
    champion_bundle_dir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    fairness: FairnessVerdict | None = None  # the new model's four-fifths verdict
    fairness_policy: str = "warn"
    inputs: InputChange | None = None  # the new model's inputs against the champion's
    held_by: tuple[Hold, ...] = ()  # checks that kept it from champion (unless forced)

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    def tags(self) -> dict[str, str]:
        """The verdict as MLflow tags (run and model version): decision, reason and numbers."""
        tags = {
            "gate.decision": self.alias,
            "gate.reason": self.reason[:4900],  # MLflow caps tag values at 5,000 characters
            "gate.forced": str(self.forced).lower(),
            "gate.champion_version": self.champion_version or "none",
            **self.extra,
        }
        if self.comparison is not None:
            tags["gate.rows_case"] = self.comparison.rows_case
            tags.update({k: repr(v) for k, v in self.comparison.metrics().items()})
        if self.fairness is not None:
            tags.update(self.fairness.tags(self.fairness_policy))
        if self.inputs is not None:
            tags.update(self.inputs.tags())
        tags["gate.held_by"] = ",".join(self.held_by) or "none"
        return tags


def _trained_on(bundle: ModelBundle, digests: np.ndarray) -> np.ndarray | None:
    """Mask of the rows (by digest) the bundle's model was developed on; None if unknown."""
    record = bundle.metadata.get("training_rows")
    if not isinstance(record, dict):
        return None
    try:
        return overlap(digests, decode_digests(record))
    except (ValueError, KeyError, TypeError):
        return None


def compare(
    new: ModelBundle,
    champion: ModelBundle,
    rows: np.ndarray,
    labels: np.ndarray,
    same_data: bool,
    min_rows: int,
) -> Comparison:
    """Score both bundles on the rows neither was developed on and compare them, paired.

    GateError if the rows left are too few, or the champion's training rows are unknown while
    the data differ (its test rows cannot be told from its training rows)."""
    digests = row_digests(rows, labels)
    seen = np.zeros(labels.size, dtype=bool)
    for who, bundle in (("new model", new), ("champion", champion)):
        mask = _trained_on(bundle, digests)
        if mask is None:
            if who == "champion" and not same_data:
                raise GateError(
                    "the champion does not record its training rows and was tested on other "
                    "data or another split: no fair comparison on these rows"
                )
            continue
        seen |= mask
    keep = ~seen
    y = labels[keep]
    n_pos = int(y.sum())
    if y.size < min_rows or n_pos == 0 or n_pos == y.size:
        raise GateError(
            f"{int(seen.sum()):,} of the {labels.size:,} test rows were used to train one of "
            f"the models; the {y.size:,} left are too few for a fair comparison "
            f"(promotion_min_rows {min_rows:,}, both classes needed)"
        )
    try:
        p_new = new.predict_pd(rows[keep])
        p_champion = champion.predict_pd(rows[keep])
    except Exception as exc:
        raise GateError(f"cannot score the test rows: {exc}") from exc
    test = delong_test(y, p_new, p_champion)
    return Comparison(
        same_data=same_data,
        rows=int(y.size),
        excluded_rows=int(seen.sum()),
        auc_new=test.auc_a,
        auc_champion=test.auc_b,
        auc_se=test.se,
        delong_p=test.p_greater,
        brier_new=float(np.mean((p_new - y) ** 2)),
        brier_champion=float(np.mean((p_champion - y) ** 2)),
    )


# ---- the registry ---------------------------------------------------------------------------


def _no_alias(exc: mlflow.exceptions.MlflowException) -> bool:
    """Is this the registry saying "no such alias" (or no such model yet), not a failure?"""
    text = str(exc)
    return exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
        exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in text and "not found" in text
    )


def alias_version(settings: Settings, alias: str) -> Any | None:
    """The model version behind `alias`, or None if there is none; GateError on any other
    registry failure (an unreachable store must not read as "no champion")."""
    try:
        return MlflowClient().get_model_version_by_alias(settings.registered_model_name, alias)
    except mlflow.exceptions.MlflowException as exc:
        if _no_alias(exc):
            return None
        raise GateError(f"registry error reading alias {alias!r}: {exc}") from exc
    except Exception as exc:  # connection errors and the like
        raise GateError(f"registry error reading alias {alias!r}: {exc}") from exc


def download_bundle(settings: Settings, version: str, dest: Path) -> Path:
    """Download a registered version's artifacts into `dest`; return its bundle folder."""
    try:
        path = mlflow.artifacts.download_artifacts(
            f"models:/{settings.registered_model_name}/{version}", dst_path=str(dest)
        )
    except Exception as exc:
        raise GateError(f"cannot download v{version}: {exc}") from exc
    return Path(path) / BUNDLE_ARTIFACT_PATH


def load_version(settings: Settings, version: Any, dest: Path) -> Champion:
    """A registered version's bundle, loaded; GateError if it cannot be downloaded or loaded."""
    number = str(version.version)
    directory = download_bundle(settings, number, dest)
    try:
        bundle = ModelBundle.load(directory)
    except Exception as exc:  # BundleError, or anything a corrupt file raises
        raise GateError(f"v{number}'s bundle cannot be loaded: {exc}") from exc
    return Champion(number, bundle, directory, DataSplit.from_tags(dict(version.tags or {})))


def champion_bundle(settings: Settings, dest: Path) -> Champion | None:
    """The registry's current champion, downloaded into `dest`; None if there is none."""
    version = alias_version(settings, CHAMPION)
    if version is None:
        return None
    try:
        return load_version(settings, version, dest)
    except GateError as exc:
        raise GateError(f"champion {exc}") from exc


def promotion_gate(
    settings: Settings,
    new: ModelBundle,
    data: DataSplit,
    test_rows: np.ndarray,
    test_labels: np.ndarray,
    workdir: Path,
    fetch_champion: ChampionFetcher = champion_bundle,
    force: bool = False,
    inputs_reviewed: bool = False,
) -> GateResult:
    """Compare `new` with the current champion on the test rows (raw fields) of `data`, then
    hold it back if it fails the fairness policy or reads other inputs than the champion
    (unless `inputs_reviewed`: a person promotes it by hand)."""
    checks = _Checks(
        FairnessVerdict.of_metadata(new.metadata),
        settings.gate_fairness,
        model_inputs(new.feature_set),
        inputs_reviewed,
    )
    try:
        champion = fetch_champion(settings, workdir)
    except GateError as exc:
        return checks.apply(_refused(str(exc)), None, force)
    if champion is None:
        return checks.apply(GateResult(CHAMPION, "no champion yet"), None, force, first=True)
    try:
        comparison = compare(
            new,
            champion.bundle,
            test_rows,
            test_labels,
            same_data=champion.data == data,
            min_rows=settings.promotion_min_rows,
        )
    except GateError as exc:
        return checks.apply(
            _refused(f"champion v{champion.version}: {exc}", champion), champion, force
        )
    alias, reason = promotion_decision(comparison, settings)
    verdict = GateResult(
        alias=alias,
        reason=reason,
        champion_version=champion.version,
        comparison=comparison,
        champion_bundle_dir=champion.directory,
    )
    return checks.apply(verdict, champion, force)


def _refused(reason: str, champion: Champion | None = None) -> GateResult:
    """No comparison possible: challenger (or champion when forced, `_Checks.apply`)."""
    return GateResult(
        alias=CHALLENGER,
        reason=f"no comparison: {reason}",
        champion_version=champion.version if champion else None,
        champion_bundle_dir=champion.directory if champion else None,
    )


@dataclass(frozen=True)
class _Checks:
    """What the gate checks of the new model beside the comparison: its fairness verdict
    against the policy, and its inputs against the champion's."""

    fairness: FairnessVerdict
    policy: str
    inputs: tuple[str, ...]
    inputs_reviewed: bool

    def holds(self, change: InputChange, champion: str | None) -> list[tuple[Hold, str]]:
        """What keeps the new model from champion, with why, whatever the comparison says."""
        found: list[tuple[Hold, str]] = []
        if change.changed and not self.inputs_reviewed:
            found.append(
                (
                    "inputs",
                    f"inputs changed ({change.description()} against champion v{champion}): "
                    "not promoted automatically, a person reviews it and runs `bankrisk promote`",
                )
            )
        if self.policy == "refuse" and self.fairness.passed is not True:
            found.append(("fairness", self._fairness_hold()))
        return found

    def _fairness_hold(self) -> str:
        what = (
            f"fails the four-fifths rule: {self.fairness.findings()}"
            if self.fairness.known
            else "carries no fairness report"
        )
        return f"{what} (gate_fairness=refuse)"

    def apply(
        self,
        verdict: GateResult,
        champion: Champion | None,
        force: bool,
        first: bool = False,
    ) -> GateResult:
        """The verdict with the checks' findings, their holds, and `force` applied."""
        if champion is not None:
            change = InputChange(self.inputs, model_inputs(champion.bundle.feature_set))
        else:
            change = InputChange(self.inputs, None, first=first)
        holds = self.holds(change, champion.version if champion else None)
        notes = [text for _, text in holds]
        if change.changed and self.inputs_reviewed:
            notes.append(f"inputs changed ({change.description()}), reviewed by hand")
        reason = "; ".join([*notes, verdict.reason])
        alias: Alias = CHALLENGER if holds else verdict.alias
        forced = force and alias != CHAMPION
        if forced:
            reason = f"forced; {'gate: ' if verdict.comparison is not None else ''}{reason}"
        return replace(
            verdict,
            alias=CHAMPION if force else alias,
            reason=reason,
            forced=forced,
            fairness=self.fairness,
            fairness_policy=self.policy,
            inputs=change,
            held_by=tuple(hold for hold, _ in holds),
        )


# ---- moving aliases --------------------------------------------------------------------------


def set_alias(settings: Settings, version: str, alias: str) -> None:
    MlflowClient().set_registered_model_alias(settings.registered_model_name, alias, version)


def delete_alias(settings: Settings, alias: str) -> None:
    MlflowClient().delete_registered_model_alias(settings.registered_model_name, alias)


def record_verdict(settings: Settings, version: str, verdict: GateResult) -> None:
    """The verdict as tags of the model version (the run's are set by the caller)."""
    client = MlflowClient()
    for key, value in verdict.tags().items():
        client.set_model_version_tag(settings.registered_model_name, version, key, value)


def apply_verdict(settings: Settings, version: str, verdict: GateResult) -> str | None:
    """Give `version` its alias. A new champion keeps the old one as `previous` (and stops
    being the challenger, if it was). Returns the version that was champion, if replaced."""
    old = verdict.champion_version
    if verdict.promoted:
        if old is None:
            current = alias_version(settings, CHAMPION)  # a champion the gate could not load
            old = str(current.version) if current is not None else None
        if old is not None and old != version:
            set_alias(settings, old, PREVIOUS)
        challenger = alias_version(settings, CHALLENGER)
        if challenger is not None and str(challenger.version) == version:
            delete_alias(settings, CHALLENGER)
        set_alias(settings, version, CHAMPION)
        return old if old != version else None
    set_alias(settings, version, CHALLENGER)
    return None
