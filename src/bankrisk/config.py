"""One typed settings object for the whole project, read from environment variables.

Every variable is prefixed `BANKRISK_` (for example `BANKRISK_USE_AGE=true`), except the
standard ones other tools already define: `MLFLOW_TRACKING_URI` and Cloud Run's `PORT`.
Values are validated when the object is built, so a bad setting fails at start-up.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bankrisk.features.engineering import FeatureSet

CandidateName = Literal["scorecard", "gbm", "mlp"]
# BANKRISK_MODEL_SOURCE naming a registry alias rather than a directory.
REGISTRY_SCHEME = "mlflow-registry://"
REGISTRY_SOURCE = re.compile(r"mlflow-registry://([\w.-]+(?::\d+)?)/([\w.-]+)@([\w.-]+)")


class Settings(BaseSettings):
    """Project configuration; defaults give the embedded local set-up (SQLite MLflow, files)."""

    model_config = SettingsConfigDict(env_prefix="BANKRISK_", extra="ignore", frozen=True)

    # --- paths -------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Where `bankrisk data download` puts files.")
    data_url: str = Field(
        "https://archive.ics.uci.edu/static/public/350/default+of+credit+card+clients.zip",
        pattern=r"^https?://",
        description="The UCI zip `bankrisk data download` fetches (a mirror, or a test server).",
    )
    model_dir: Path = Field(Path("models/champion"), description="The champion serving bundle.")
    reports_dir: Path = Field(Path("reports"), description="Plots and model cards of a run.")

    # --- MLflow ------------------------------------------------------------------------
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "BANKRISK_MLFLOW_TRACKING_URI"),
    )
    mlflow_artifact_root: Path = Field(
        Path("mlartifacts"), description="Artifact root of a newly created experiment."
    )
    experiment_name: str = "bank-default-risk"
    registered_model_name: str = "bank-default-risk"

    # --- training ------------------------------------------------------------------------
    seed: int = 42
    test_size: float = Field(0.2, gt=0, lt=0.5)
    candidates: Annotated[tuple[CandidateName, ...], NoDecode] = ("scorecard", "gbm", "mlp")
    use_age: bool = Field(False, description="Use AGE as a model input (protected attribute).")
    use_education: bool = Field(
        False,
        description="Use EDUCATION as a model input (off: it adds 0.0010 CV AUC, see README).",
    )
    mlp_epochs: int = Field(60, ge=1)

    # --- decisions -----------------------------------------------------------------------
    cost_missed_default: float = Field(5.0, gt=0, description="Cost of approving a defaulter.")
    cost_declined_good: float = Field(1.0, gt=0, description="Cost of declining a good payer.")
    review_fraction: float = Field(
        0.6, gt=0, le=1, description="PDs from this share of the threshold up go to review."
    )
    promotion_min_auc_gain: float = Field(
        0.0, ge=0, description="A new model must beat the champion's test AUC by more than this."
    )
    promotion_max_p: float = Field(
        0.05,
        gt=0,
        le=1,
        description="...and DeLong's one-sided p-value of its AUC gain must be below this.",
    )
    promotion_brier_tolerance: float = Field(
        0.001,
        ge=0,
        description="...and its Brier score may be worse than the champion's by at most this.",
    )
    promotion_min_rows: int = Field(
        1000,
        ge=1,
        description="Fewest test rows (neither model trained on) the gate compares on.",
    )

    # --- score scaling: points = offset + factor * ln(good:bad odds) ----------------------
    score_base_points: float = 600.0
    score_base_odds: float = Field(50.0, gt=0)
    score_points_to_double_odds: float = Field(20.0, gt=0)
    # Master scale: upper PD bound of each grade, best grade first; the last bound is 1.
    grade_pd_upper_bounds: Annotated[tuple[float, ...], NoDecode] = (
        0.02,
        0.04,
        0.07,
        0.10,
        0.15,
        0.20,
        0.30,
        0.45,
        0.65,
        1.0,
    )

    # --- serving ---------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "BANKRISK_PORT"))
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Comma-separated API keys; empty disables authentication."
    )
    max_batch_records: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(8_000_000, ge=1024)
    gc_young_threshold: int = Field(
        20_000,
        ge=100,
        description="Objects allocated between two young-generation collections of Python's "
        "cyclic garbage collector in `bankrisk serve` (Python's default: 700).",
    )
    feature_repo: Path | None = Field(
        None,
        description="Feast repository for POST /v1/predict/customer/{id} (needs the "
        "`features` extra); unset: that route answers 503 and Feast is never imported.",
    )

    # --- serving: a challenger beside the champion, and reloads ----------------------------
    challenger_dir: Path | None = Field(
        None, description="A second bundle served beside the champion (shadow or canary)."
    )
    challenger_mode: Literal["shadow", "canary"] = Field(
        "shadow",
        description="shadow: the challenger scores every customer off the response path, "
        "logged only; canary: it answers a sticky share of customers.",
    )
    canary_percent: float = Field(
        10.0, ge=0, le=100, description="Share of customers the canary answers, in percent."
    )
    shadow_queue: int = Field(
        10_000, ge=1, description="Rows waiting for the shadow at most; more are dropped, counted."
    )
    admin_api_key: SecretStr = Field(
        SecretStr(""), description="Key of POST /v1/admin/reload; empty: the endpoint is off."
    )
    model_source: str = Field(
        "",
        description="Polled for a new champion: a bundle directory, or "
        "mlflow-registry://HOST[:PORT]/NAME@ALIAS; empty: no polling.",
    )
    model_source_poll_seconds: float = Field(
        30.0, gt=0, description="Seconds between two looks at BANKRISK_MODEL_SOURCE."
    )

    # --- monitoring: the prediction log and drift ------------------------------------------
    prediction_log: str = Field(
        "sqlite:///predictions.db",
        description="SQLAlchemy URL of the prediction log (sqlite:///..., "
        "postgresql+pg8000://...), or `off`.",
    )
    prediction_log_pseudonymise: bool = Field(
        False, description="Store a salted hash (HMAC-SHA256) of the customer id, not the id."
    )
    prediction_log_salt: SecretStr = Field(
        SecretStr(""), description="Secret salt of the customer id hash (pseudonymisation)."
    )
    prediction_log_queue: int = Field(
        10_000, ge=1, description="Rows the log writer holds at most; more are dropped, counted."
    )
    prediction_log_batch: int = Field(500, ge=1, description="Rows per insert, at most.")
    prediction_log_flush_seconds: float = Field(
        0.2, gt=0, le=60, description="Longest a logged row waits for its batch."
    )
    drift_warn_psi: float = Field(0.10, gt=0, description="PSI from which a field is `warn`.")
    drift_alert_psi: float = Field(0.25, gt=0, description="PSI from which a field is `alert`.")

    @property
    def feature_set(self) -> FeatureSet:
        return FeatureSet(use_age=self.use_age, use_education=self.use_education)

    @field_validator("candidates", "api_keys", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("challenger_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model_source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        value = value.strip()
        if value.startswith(REGISTRY_SCHEME) and not REGISTRY_SOURCE.fullmatch(value):
            raise ValueError(
                f"must be {REGISTRY_SCHEME}HOST[:PORT]/NAME@ALIAS (e.g. "
                f"{REGISTRY_SCHEME}mlflow.internal:5000/bank-default-risk@champion) "
                "or a bundle directory"
            )
        return value

    @field_validator("feature_repo", mode="before")
    @classmethod
    def _no_repo_if_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("grade_pd_upper_bounds", mode="before")
    @classmethod
    def _split_floats(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        bounds = self.grade_pd_upper_bounds
        if list(bounds) != sorted(set(bounds)) or bounds[-1] != 1.0 or bounds[0] <= 0:
            raise ValueError("grade_pd_upper_bounds must rise strictly and end at 1.0")
        if not self.candidates:
            raise ValueError("candidates must name at least one model family")
        if self.drift_alert_psi <= self.drift_warn_psi:
            raise ValueError("drift_alert_psi must be greater than drift_warn_psi")
        if self.prediction_log_pseudonymise and not self.prediction_log_salt.get_secret_value():
            raise ValueError(
                "prediction_log_pseudonymise is on but prediction_log_salt is empty: "
                "set a secret salt to hash customer ids with"
            )
        return self
