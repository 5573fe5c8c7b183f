import pytest
from pydantic import ValidationError

from bankrisk.config import Settings


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
