"""`make monitoring-up` (deploy/monitoring/up.sh): what it runs, and its refusals of bad input.
It is run for real, with a real server and Prometheus, in test_live_prometheus.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.operations import MONITORING, REPO


def up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(MONITORING / "up.sh")],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path / "state"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_monitoring_up_runs_the_script_on_the_champion() -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", "monitoring-up"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "MODEL_DIR=models/champion BANKRISK=.venv/bin/bankrisk bash deploy/monitoring/up.sh"
        in proc.stdout
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "80000"}, "invalid port '80000'"),
        ({"PROMETHEUS_PORT": "x"}, "invalid port 'x'"),
        ({"SCRAPE_INTERVAL": "soon"}, "invalid SCRAPE_INTERVAL 'soon'"),
        ({"MODEL_DIR": "/nonexistent"}, "no bundle in /nonexistent: run `make train`"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    proc = up(tmp_path, **env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("monitoring-up: ") and message in proc.stderr


def test_a_missing_prometheus_says_how_to_install_it(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    proc = up(tmp_path, MODEL_DIR=str(bundle), PROMETHEUS="no-such-prometheus")
    assert proc.returncode == 2
    assert "no-such-prometheus not found: `make system-deps`" in proc.stderr
