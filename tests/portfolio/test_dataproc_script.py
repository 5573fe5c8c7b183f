"""deploy/dataproc.sh: the exact Dataproc Serverless commands in a dry run (a fake gcloud on
PATH proves nothing is called), and bad options as one line with exit code 2. Shellcheck of this
script: tests/delivery/test_static.py, with every other shell script and the venv's shellcheck."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "dataproc.sh"
REQUIRED = [
    "--project", "bank-risk-prod", "--bucket", "bank-risk-batch",
    "--input", "gs://bank-risk-batch/portfolio.parquet",
    "--output", "gs://bank-risk-batch/scores.parquet",
    "--container-image", "europe-west1-docker.pkg.dev/bank-risk-prod/bankrisk/spark:v1",
    "--batch", "score-2026-11",
]  # fmt: skip


def dataproc(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The script with a fake gcloud on PATH that records any call in tmp_path/calls."""
    fake = tmp_path / "bin" / "gcloud"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_dry_run_prints_the_exact_commands(tmp_path: Path) -> None:
    result = dataproc("--dry-run", *REQUIRED, "--skip-invalid", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "gcloud storage cp --recursive models/champion gs://bank-risk-batch/bankrisk/bundles/",
        f"gcloud storage cp {REPO}/src/bankrisk/portfolio/spark_job.py "
        "gs://bank-risk-batch/bankrisk/spark_job.py",
        "gcloud dataproc batches submit pyspark gs://bank-risk-batch/bankrisk/spark_job.py "
        "--project bank-risk-prod --region europe-west1 --batch score-2026-11 --version 2.3 "
        "--container-image europe-west1-docker.pkg.dev/bank-risk-prod/bankrisk/spark:v1 "
        "--deps-bucket gs://bank-risk-batch -- "
        "--model-dir gs://bank-risk-batch/bankrisk/bundles/champion "
        "--input gs://bank-risk-batch/portfolio.parquet "
        "--output gs://bank-risk-batch/scores.parquet --skip-invalid",
    ]
    assert not (tmp_path / "calls").exists(), "the dry run called gcloud"


def test_a_bundle_on_cloud_storage_is_not_copied(tmp_path: Path) -> None:
    bundle = "gs://models/bank-default-risk/v7"
    result = dataproc("--dry-run", *REQUIRED, "--model-dir", bundle, tmp_path=tmp_path)
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("gcloud storage cp ")
    assert f"-- --model-dir {bundle} --input" in lines[1]


def test_a_recorded_run_passes_its_options_to_the_job(tmp_path: Path) -> None:
    record = ["--record", "gs://bank-risk-batch/runs", "--run-id", "2026-11"]
    result = dataproc("--dry-run", *REQUIRED, *record, "--as-of", "2026-11-30", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(
        "--output gs://bank-risk-batch/scores.parquet --record gs://bank-risk-batch/runs "
        "--run-id 2026-11 --as-of 2026-11-30"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--project", "X"], "invalid project id 'X'"),
        (["--record", "runs/"], "--record must be a gs:// URI"),
        (["--run-id", "2026-11"], "--run-id and --as-of name a run recorded with --record"),
        (["--input", "/local/file.parquet"], "--input must be a gs:// URI"),
        (["--container-image", ""], "--container-image needs a value"),
        (["--bogus"], "unknown argument --bogus"),
    ],
)
def test_bad_options_are_one_line(change: list[str], message: str, tmp_path: Path) -> None:
    result = dataproc("--dry-run", *REQUIRED, *change, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"dataproc.sh: {message}" or message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_is_the_header(tmp_path: Path) -> None:
    result = dataproc("--help", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Score a portfolio with the bankrisk Spark job")
    assert "--dry-run" in result.stdout and "set -e" not in result.stdout
