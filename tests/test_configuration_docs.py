"""docs/configuration.md is generated from `bankrisk.config.Settings` and kept in step with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import Field, SecretStr

from bankrisk.config import Settings
from bankrisk.config_reference import REGENERATE, configuration_markdown, environment_variables

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "configuration.md"


def test_the_page_is_what_the_settings_generate() -> None:
    assert PAGE.is_file(), f"docs/configuration.md is missing: run `.venv/bin/{REGENERATE}`"
    assert PAGE.read_text() == configuration_markdown(), (
        "docs/configuration.md differs from bankrisk.config.Settings: regenerate it with "
        f"`.venv/bin/{REGENERATE}` (from the repository root)"
    )


def test_every_setting_is_described_with_its_variables() -> None:
    text = configuration_markdown()
    undescribed = [name for name, info in Settings.model_fields.items() if not info.description]
    assert not undescribed, f"Settings fields without a description=: {undescribed}"
    for name, info in Settings.model_fields.items():
        for variable in environment_variables(name, info, "BANKRISK_"):
            assert f"`{variable}`" in text, variable
    assert "`PORT` (or `BANKRISK_PORT`)" in text
    assert "`MLFLOW_TRACKING_URI` (or `BANKRISK_MLFLOW_TRACKING_URI`)" in text
    assert f"{len(Settings.model_fields)} settings" in text


def test_a_secrets_default_is_never_printed() -> None:
    class Leaky(Settings):
        admin_api_key: SecretStr = Field(SecretStr("admin-s3cret"), description="A key.")
        prediction_log_salt: SecretStr = Field(SecretStr("salt-s3cret"), description="A salt.")
        api_keys: tuple[str, ...] = Field(("api-s3cret",), description="Keys.")
        console_key: SecretStr = Field(SecretStr("console-s3cret"), description="A key.")

    text = configuration_markdown(Leaky)
    assert "s3cret" not in text
    assert text.count("*(secret: not shown)*") == 4
    assert "`BANKRISK_ADMIN_API_KEY`" in text  # placed in its section, as in Settings
    assert "## Other settings" not in text


def test_the_module_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bankrisk.config_reference", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == configuration_markdown()
