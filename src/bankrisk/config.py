"""One typed settings object for the whole project, read from environment variables.

Every variable is prefixed `BANKRISK_` (for example `BANKRISK_USE_AGE=true`), except the
standard ones other tools already define: `MLFLOW_TRACKING_URI` and Cloud Run's `PORT`.
Values are validated when the object is built, so a bad setting fails at start-up, and a
`BANKRISK_` variable that names no setting (a misspelling) gets a warning. Every setting, its
variable, type, default and meaning: docs/configuration.md, generated from this class by
`python -m bankrisk.config_reference`.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bankrisk.feature_store.online import READ_TIMEOUT_S
from bankrisk.features.engineering import FeatureSet

CandidateName = Literal["scorecard", "gbm", "mlp"]
# BANKRISK_MODEL_SOURCE naming a registry alias rather than a directory.
REGISTRY_SCHEME = "mlflow-registry://"
# The prediction log's folder under the data folder: its SQLite file and the writer's spool.
LOG_FOLDER = "prediction-log"
REGISTRY_SOURCE = re.compile(r"mlflow-registry://([\w.-]+(?::\d+)?)/([\w.-]+)@([\w.-]+)")
# BANKRISK_ variables that other parts of the project read, not Settings: never warned about.
OTHER_VARIABLES: dict[str, str] = {
    "BANKRISK_MODEL_VERSION": "Set by the Docker image to the registry version of the bundle "
    "it bakes; informational, the service reads the version from the bundle.",
    "BANKRISK_FEATURE_BUCKET": "Read by Feast from `feature_repo/feature_store.gcp.yaml`: the "
    "Cloud Storage bucket of the feature registry.",
    "BANKRISK_REDIS_HOST": "Read by Feast from `feature_repo/feature_store.gcp.yaml` and "
    "`feature_store.redis.yaml`: the Redis (Memorystore) online store's host.",
    "BANKRISK_REDIS_PORT": "Read by Feast from `feature_repo/feature_store.redis.yaml`: the "
    "Redis online store's port (6379 on Memorystore).",
    "BANKRISK_ENGINE_DIR": "Test support: the work directory of the private Docker engine "
    "(`make engine-up`).",
    "BANKRISK_ROOTFS_CACHE": "Test support: where the container test keeps its base-image "
    "tarball between runs.",
}


def default_log_url(data_dir: Path | str) -> str:
    """The prediction log when BANKRISK_PREDICTION_LOG is empty: SQLite under the data folder
    (ignored by git, removed by `make clean`)."""
    return f"sqlite:///{Path(data_dir, LOG_FOLDER, 'predictions.db')}"


class Settings(BaseSettings):
    """Project configuration; defaults give the embedded local set-up (SQLite MLflow, files)."""

    model_config = SettingsConfigDict(env_prefix="BANKRISK_", extra="ignore", frozen=True)

    # --- paths -------------------------------------------------------------------------
    data_dir: Path = Field(
        Path("data"),
        description="Where `bankrisk data download` puts the UCI file, and where commands "
        "without `--data` look for it.",
    )
    data_url: str = Field(
        "https://archive.ics.uci.edu/static/public/350/default+of+credit+card+clients.zip",
        pattern=r"^https?://",
        description="The UCI zip `bankrisk data download` (and `make run`/`make train` "
        "without `DATA`) fetches: the official file, a mirror, or a test server.",
    )
    model_dir: Path = Field(
        Path("models/champion"),
        description="The champion's serving bundle: what `bankrisk serve` loads and where "
        "training, `promote` and `rollback` export it (the `--model-dir` default).",
    )
    reports_dir: Path = Field(
        Path("reports"), description="Where training writes each run's plots and model cards."
    )

    # --- MLflow ------------------------------------------------------------------------
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "BANKRISK_MLFLOW_TRACKING_URI"),
        description="The MLflow tracking and registry store: a SQLAlchemy URL (the local "
        "SQLite file by default) or a tracking server's http(s) URL.",
    )
    mlflow_artifact_root: Path = Field(
        Path("mlartifacts"),
        description="Artifact root of the MLflow experiment when training creates it on a "
        "local store (SQLite or files); a tracking server chooses its own.",
    )
    experiment_name: str = Field(
        "bank-default-risk", description="The MLflow experiment every training run goes to."
    )
    registered_model_name: str = Field(
        "bank-default-risk",
        description="The registered model whose versions carry the aliases `champion`, "
        "`challenger` and `previous`.",
    )

    # --- training ------------------------------------------------------------------------
    seed: int = Field(
        42,
        description="Random seed of the test split, the folds and every candidate; `bankrisk "
        "promote` splits `--data` with it exactly as training did.",
    )
    test_size: float = Field(
        0.2,
        gt=0,
        lt=0.5,
        description="Share of rows held out (stratified) as the test split, never used for "
        "tuning or selection.",
    )
    candidates: Annotated[tuple[CandidateName, ...], NoDecode] = Field(
        ("scorecard", "gbm", "mlp"),
        description="Model families training fits, comma-separated: `scorecard` (WoE "
        "logistic), `gbm` (LightGBM), `mlp` (Keras); at least one.",
    )
    use_age: bool = Field(
        False,
        description="Use AGE as a model input. A protected attribute: off by default, and "
        "never a reason code.",
    )
    use_education: bool = Field(
        False,
        description="Use EDUCATION as a model input (off by default; never a reason code on "
        "its own). Why it is off: docs/training.md.",
    )
    mlp_epochs: int = Field(
        60, ge=1, description="Most epochs of the Keras MLP (early stopping ends it sooner)."
    )

    # --- decisions -----------------------------------------------------------------------
    cost_missed_default: float = Field(
        5.0,
        gt=0,
        description="Cost of approving a customer who defaults; with the next setting it "
        "sets the decline threshold (the PD of least expected cost).",
    )
    cost_declined_good: float = Field(
        1.0, gt=0, description="Cost of declining a customer who would have paid."
    )
    review_fraction: float = Field(
        0.6,
        gt=0,
        le=1,
        description="PDs from this share of the decline threshold up to it are `review`; "
        "below, `approve`.",
    )
    promotion_min_auc_gain: float = Field(
        0.0,
        ge=0,
        description="Promotion gate: a new model must beat the champion's AUC, on the same "
        "rows, by more than this.",
    )
    promotion_max_p: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Promotion gate: DeLong's one-sided p-value of the AUC gain must be "
        "below this.",
    )
    promotion_brier_tolerance: float = Field(
        0.001,
        ge=0,
        description="Promotion gate: the new model's Brier score may be worse than the "
        "champion's by at most this.",
    )
    promotion_min_rows: int = Field(
        1000,
        ge=1,
        description="Promotion gate: fewest test rows (that neither model was developed on) "
        "to compare on; fewer, and the new version becomes `challenger`.",
    )

    # --- score scaling: points = offset + factor * ln(good:bad odds) ----------------------
    score_base_points: float = Field(
        600.0, description="Points at the base odds (set at training, stored in the bundle)."
    )
    score_base_odds: float = Field(
        50.0, gt=0, description="Good:bad odds that score the base points."
    )
    score_points_to_double_odds: float = Field(
        20.0, gt=0, description="Points that double the good:bad odds."
    )
    # Master scale: upper PD bound of each grade, best grade first; the last bound is 1.
    grade_pd_upper_bounds: Annotated[tuple[float, ...], NoDecode] = Field(
        (
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
        ),
        description="Master scale, comma-separated: the upper PD bound of each grade, best "
        "(A1) first; must rise strictly and end at 1.0 (set at training, stored in the "
        "bundle).",
    )

    # --- serving ---------------------------------------------------------------------------
    host: str = Field(
        "127.0.0.1", description="Address `bankrisk serve` listens on (`--host` overrides it)."
    )
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("PORT", "BANKRISK_PORT"),
        description="Port `bankrisk serve` listens on; `PORT` (Cloud Run sets it) wins over "
        "`--port`.",
    )
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated API keys required on the scoring routes and `/v1/model` "
        "(`X-API-Key` or `Authorization: Bearer`); empty: no authentication.",
    )
    max_batch_records: int = Field(
        10_000, ge=1, description="Most records in one `POST /v1/predict/batch`; more: 413."
    )
    max_body_bytes: int = Field(
        8_000_000, ge=1024, description="Largest request body in bytes; larger: 413."
    )
    gc_young_threshold: int = Field(
        20_000,
        ge=100,
        description="Objects allocated between two young-generation collections of Python's "
        "cyclic garbage collector in `bankrisk serve` (Python's default: 700).",
    )
    feature_repo: Path | None = Field(
        None,
        description="Feast repository behind `POST /v1/predict/customer/{id}` and the default "
        "`--repo` of `bankrisk features materialize` (needs the `features` extra); unset: "
        "that route answers 404 and Feast is never imported.",
    )
    feature_store_timeout_s: float = Field(
        READ_TIMEOUT_S,
        gt=0,
        description="How long one read of the online store may take before "
        "`POST /v1/predict/customer/{id}` answers 503 (a store that hangs or is down).",
    )
    stale_features: Literal["review", "warn", "refuse"] = Field(
        "review",
        description="What `POST /v1/predict/customer/{id}` does with features older than the "
        "feature view's TTL: `review` scores them and answers `review` whatever the model "
        "decided (a person checks the customer's current data; no automatic decision on old "
        "data), `warn` answers the model's decision with a warning, `refuse` answers 409. "
        "Each answer carries a warning saying how old the features are.",
    )

    # --- serving: a challenger beside the champion, and reloads ----------------------------
    challenger_dir: Path | None = Field(
        None, description="A second bundle served beside the champion (shadow or canary)."
    )
    challenger_mode: Literal["shadow", "canary"] = Field(
        "shadow",
        description="`shadow`: the challenger scores every customer off the response path, "
        "logged only; `canary`: it answers a sticky share of customers.",
    )
    canary_percent: float = Field(
        10.0,
        ge=0,
        le=100,
        description="Share of customers the canary answers, in percent (sticky per customer id).",
    )
    shadow_queue: int = Field(
        10_000,
        ge=1,
        description="Rows waiting for the shadow at most; more are dropped and counted in "
        "`bankrisk_shadow_dropped_total`.",
    )
    admin_api_key: SecretStr = Field(
        SecretStr(""),
        description="Key of `POST /v1/admin/reload` (a secret); empty: the endpoint is off (404).",
    )
    model_source: str = Field(
        "",
        description="Polled for a new champion: a bundle directory, or "
        "`mlflow-registry://HOST[:PORT]/NAME@ALIAS`; empty: no polling.",
    )
    model_source_poll_seconds: float = Field(
        30.0, gt=0, description="Seconds between two looks at `BANKRISK_MODEL_SOURCE`."
    )

    # --- monitoring: the prediction log and drift ------------------------------------------
    prediction_log: str = Field(
        "",
        description="SQLAlchemy URL of the prediction log (`sqlite:///...`, "
        "`postgresql+pg8000://...`), or `off`; empty: "
        "`sqlite:///DATA_DIR/prediction-log/predictions.db`.",
    )
    prediction_log_required: bool = Field(
        False,
        description="Refuse to score (503, and `/ready` 503) while the prediction log cannot "
        "record decisions (its writer process down, the store failing, the writer full), "
        'instead of answering unrecorded: docs/operations.md, "A decision record that '
        'survives faults".',
    )
    prediction_log_spool: str = Field(
        "",
        description="Folder of the log writer's spool on local disk, which keeps the rows the "
        "store cannot take (while it is down) until it can; `off`: none (rows wait in memory, "
        "up to `BANKRISK_PREDICTION_LOG_QUEUE`); empty: `DATA_DIR/prediction-log/spool`. One "
        "folder per service instance.",
    )
    prediction_log_spool_mb: int = Field(
        512, ge=1, description="Most megabytes the spool holds; beyond, rows are dropped."
    )
    prediction_log_spool_minutes: float = Field(
        60.0,
        gt=0,
        description="Longest the spool's oldest rows wait for the store; beyond, new rows are "
        "dropped (an outage this long needs an operator, not a bigger spool).",
    )
    prediction_log_pseudonymise: bool = Field(
        False,
        description="Store HMAC-SHA256(salt, customer id) instead of the id, in predictions "
        "and outcomes alike (needs `BANKRISK_PREDICTION_LOG_SALT`).",
    )
    prediction_log_salt: SecretStr = Field(
        SecretStr(""),
        description="Secret salt of the customer id hash; required when "
        "`BANKRISK_PREDICTION_LOG_PSEUDONYMISE` is on.",
    )
    prediction_log_queue: int = Field(
        10_000,
        ge=1,
        description="Rows the log writer holds at most (not yet written); more are dropped "
        "and counted in `bankrisk_prediction_log_dropped_total`.",
    )
    prediction_log_batch: int = Field(
        500, ge=1, description="Most rows the log writer inserts at once."
    )
    prediction_log_flush_seconds: float = Field(
        0.2, gt=0, le=60, description="Longest a logged row waits for its batch, in seconds."
    )
    drift_warn_psi: float = Field(
        0.10, gt=0, description="PSI from which a characteristic's drift status is `warn`."
    )
    drift_alert_psi: float = Field(
        0.25,
        gt=0,
        description="PSI from which a characteristic's drift status is `alert`; must be "
        "greater than `BANKRISK_DRIFT_WARN_PSI`.",
    )

    # --- fairness ------------------------------------------------------------------------
    gate_fairness: Literal["warn", "refuse"] = Field(
        "warn",
        description="What the promotion gate does with a candidate that fails the four-fifths "
        "rule on a protected attribute: `warn` (promote, and record the finding in the "
        "registry) or `refuse` (keep the champion).",
    )
    # --- the analyst console (`bankrisk console`) ------------------------------------------
    console_key: SecretStr = Field(
        SecretStr(""),
        description="Key an analyst signs in to the console with (a secret, not one of the API "
        "keys); empty: `bankrisk console` makes one at start and prints it.",
    )
    console_upload_rows: int = Field(
        50_000,
        ge=1,
        description="Most rows of a portfolio file uploaded to the console; more: use "
        "`bankrisk score` (or `--engine spark`).",
    )
    creditor_name: str = Field(
        "", description="The creditor's name, printed on adverse-action notices."
    )
    creditor_address: str = Field(
        "", description="The creditor's postal address, printed on adverse-action notices."
    )
    creditor_agency: str = Field(
        "",
        description="Name and address of the federal agency that supervises the creditor "
        "(the ECOA notice of an adverse-action notice).",
    )
    prometheus_url: str = Field(
        "",
        description="Prometheus the console asks for the alerts firing now "
        "(`http://HOST:9090`); empty: the console shows none and says why.",
    )

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
    def _warn_unknown_variables(self) -> Settings:
        """One warning for each `BANKRISK_` environment variable that names no setting (a
        misspelt one would otherwise be ignored silently), with the closest setting's
        variable when one is close."""
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        if not prefix:
            return self
        settings_variables: list[str] = []
        for field, info in type(self).model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                settings_variables += [c.upper() for c in alias.choices if isinstance(c, str)]
            elif isinstance(alias, str):
                settings_variables.append(alias.upper())
            else:
                settings_variables.append(f"{prefix}{field}".upper())
        known = {*settings_variables, *OTHER_VARIABLES}
        # Suggestions are compared without the prefix, which every candidate shares.
        suggestions = {
            v.removeprefix(prefix): v for v in settings_variables if v.startswith(prefix)
        }
        # Point the warning at the code that built the settings, past pydantic's frames.
        level, frame = 2, sys._getframe(1)
        while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
            ("pydantic.", "pydantic_settings.", "pydantic_core.")
        ):
            level, frame = level + 1, frame.f_back
        for variable in sorted(os.environ):
            name = variable.upper()
            if not name.startswith(prefix) or name in known:
                continue
            close = difflib.get_close_matches(name.removeprefix(prefix), suggestions, n=1)
            hint = (
                f"; did you mean {suggestions[close[0]]}?"
                if close
                else " (the settings: docs/configuration.md)"
            )
            warnings.warn(
                f"{variable} is not a bankrisk setting and is ignored{hint}",
                UserWarning,
                stacklevel=level,
            )
        return self

    @field_validator("prediction_log")
    @classmethod
    def _log_under_data(cls, value: str, info: ValidationInfo) -> str:
        return value if value.strip() else default_log_url(info.data.get("data_dir", "data"))

    @field_validator("prediction_log_spool")
    @classmethod
    def _spool_under_data(cls, value: str, info: ValidationInfo) -> str:
        return value.strip() or str(Path(info.data.get("data_dir", "data"), LOG_FOLDER, "spool"))

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
