import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError

from bankrisk.config import OTHER_VARIABLES, Settings
from bankrisk.config_reference import value_text


def test_environment_variables_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKRISK_CANDIDATES", "gbm, mlp")
    monkeypatch.setenv("BANKRISK_API_KEYS", "a,b")
    monkeypatch.setenv("BANKRISK_USE_AGE", "true")
    monkeypatch.setenv("PORT", "9090")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://u@localhost/mlflow")
    settings = Settings()
    assert settings.candidates == ("gbm", "mlp")
    assert settings.api_keys == ("a", "b")
    assert settings.use_age is True
    assert settings.port == 9090
    assert settings.mlflow_tracking_uri == "postgresql://u@localhost/mlflow"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("BANKRISK_CANDIDATES", "gbm,forest", "candidates"),
        ("BANKRISK_CANDIDATES", "", "candidates"),
        ("BANKRISK_TEST_SIZE", "0.7", "test_size"),
        ("BANKRISK_GRADE_PD_UPPER_BOUNDS", "0.1,0.05,1.0", "grade_pd_upper_bounds"),
        ("BANKRISK_GRADE_PD_UPPER_BOUNDS", "0.1,0.5", "grade_pd_upper_bounds"),
        ("BANKRISK_COST_MISSED_DEFAULT", "-1", "cost_missed_default"),
        ("PORT", "70000", "PORT"),
        ("BANKRISK_DATA_URL", "ftp://mirror/uci.zip", "data_url"),
    ],
)
def test_bad_values_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=field.split("_")[0]):
        Settings()


def test_data_url_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANKRISK_DATA_URL", raising=False)
    assert Settings().data_url == (
        "https://archive.ics.uci.edu/static/public/350/default+of+credit+card+clients.zip"
    )
    monkeypatch.setenv("BANKRISK_DATA_URL", "http://127.0.0.1:8080/mirror/uci.zip")
    assert Settings().data_url == "http://127.0.0.1:8080/mirror/uci.zip"


# --- unknown BANKRISK_ variables ----------------------------------------------------------------
def _without_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BANKRISK_ variable of the environment the tests run in reaches the settings."""
    for name in list(os.environ):
        if name.upper().startswith("BANKRISK_"):
            monkeypatch.delenv(name)


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without_settings_env(monkeypatch)
    monkeypatch.setenv("BANKRISK_USE_EDUCATON", "true")
    with pytest.warns(UserWarning) as caught:
        settings = Settings()
    assert settings.use_education is False  # ignored, as before: the warning is what is new
    messages = [str(w.message) for w in caught]
    assert messages == [
        "BANKRISK_USE_EDUCATON is not a bankrisk setting and is ignored; "
        "did you mean BANKRISK_USE_EDUCATION?"
    ]
    assert caught[0].filename == __file__, "the warning points at the code building Settings"


def test_each_unknown_variable_gets_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_settings_env(monkeypatch)
    monkeypatch.setenv("BANKRISK_PREDICTON_LOG", "off")
    monkeypatch.setenv("BANKRISK_ZQXJ", "1")
    monkeypatch.setenv("bankrisk_api_key", "k")  # settings are read case-insensitively
    with pytest.warns(UserWarning) as caught:
        Settings()
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3, messages
    assert messages[0] == (
        "BANKRISK_PREDICTON_LOG is not a bankrisk setting and is ignored; "
        "did you mean BANKRISK_PREDICTION_LOG?"
    )
    assert messages[1].startswith("BANKRISK_ZQXJ is not a bankrisk setting and is ignored")
    assert "did you mean" not in messages[1]
    assert messages[2].endswith("did you mean BANKRISK_API_KEYS?")


def test_settings_aliases_and_the_projects_other_variables_are_not_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without_settings_env(monkeypatch)
    for name, info in Settings.model_fields.items():  # every setting, at its default
        if name not in ("port", "mlflow_tracking_uri", "use_age"):
            monkeypatch.setenv(f"BANKRISK_{name.upper()}", value_text(info.default))
    monkeypatch.setenv("bankrisk_use_age", "true")  # read case-insensitively
    monkeypatch.setenv("BANKRISK_PORT", "9000")  # the second names of aliased settings
    monkeypatch.setenv("BANKRISK_MLFLOW_TRACKING_URI", "sqlite:///x.db")
    for name in OTHER_VARIABLES:
        monkeypatch.setenv(name, "x")
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        settings = Settings()
    assert (settings.use_age, settings.port) == (True, 9000)
    assert [str(w.message) for w in recorded] == []


def test_the_cli_shows_the_warning(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BANKRISK_")}
    env["BANKRISK_USE_EDUCATON"] = "true"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("bankrisk")), "serve", "--model-dir", "missing"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr  # no bundle: it stops, as before
    assert (
        "BANKRISK_USE_EDUCATON is not a bankrisk setting and is ignored; "
        "did you mean BANKRISK_USE_EDUCATION?"
    ) in proc.stderr
