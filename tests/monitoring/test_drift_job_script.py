"""deploy/drift_job.sh: the dry run prints every gcloud and bq command (fake gcloud and bq on
PATH prove nothing is called), with the schemas and the scheduled query generated from the code
and the bundle; bad options are one line and exit code 2. Shellcheck of this script:
tests/delivery/test_static.py, with every other deploy script."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bankrisk.monitoring.drift_sql import results_schema
from bankrisk.prediction_log.pubsub_export import bigquery_schema

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "drift_job.sh"
BANKRISK = Path(sys.executable).with_name("bankrisk")
IMAGE = "europe-west1-docker.pkg.dev/bank-risk-prod/bankrisk/export:v1"


def drift_job(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The script with fake gcloud and bq on PATH that record any call in tmp_path/calls."""
    fakes = tmp_path / "bin"
    fakes.mkdir(exist_ok=True)
    for tool in ("gcloud", "bq"):
        fake = fakes / tool
        fake.write_text(f'#!/bin/sh\necho {tool} "$@" >> {tmp_path / "calls"}\n')
        fake.chmod(0o755)
    env = {
        "PATH": f"{fakes}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BANKRISK": str(BANKRISK),
        "TMPDIR": str(tmp_path),
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_dry_run_prints_every_command(small_bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = drift_job(
        "--dry-run", "--project", "bank-risk-prod", "--image", IMAGE,
        "--model-dir", str(small_bundle_dir), "--out-dir", str(out),
        "--cloudsql", "bank-risk-prod:europe-west1:bankrisk-log",
        "--notification-channels", "projects/bank-risk-prod/notificationChannels/42",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "calls").exists(), "the dry run called gcloud or bq"
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    at = ["--project_id=bank-risk-prod", "--location=EU"]
    table = "bank-risk-prod:bankrisk_monitoring.predictions"
    sa = "bankrisk-drift@bank-risk-prod.iam.gserviceaccount.com"
    assert commands[:3] == [
        ["bq", *at, "mk", "-f", "--dataset",
         "--description=bankrisk: logged predictions and their drift",
         "bank-risk-prod:bankrisk_monitoring"],
        ["bq", *at, "mk", "-f", "--table", f"--schema={out}/predictions.schema.json",
         "--time_partitioning_field=time", "--time_partitioning_type=DAY",
         "--clustering_fields=model_role,model_version",
         "--description=bankrisk prediction log, from Pub/Sub (at-least-once: one row per id "
         "is kept by the drift query)", table],
        ["bq", *at, "mk", "-f", "--table", f"--schema={out}/drift_results.schema.json",
         "--time_partitioning_field=window_end", "--time_partitioning_type=DAY",
         "--description=bankrisk drift per characteristic and window (bankrisk monitor "
         "drift-sql)", "bank-risk-prod:bankrisk_monitoring.drift_results"],
    ]  # fmt: skip
    assert commands[3:9] == [
        ["gcloud", "pubsub", "topics", "create", "bankrisk-predictions",
         "--project", "bank-risk-prod"],
        ["bq", "add-iam-policy-binding",
         "--member=serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com",
         "--role=roles/bigquery.dataEditor", table],
        ["gcloud", "pubsub", "subscriptions", "create", "bankrisk-predictions-bigquery",
         "--project", "bank-risk-prod", "--topic", "bankrisk-predictions",
         f"--bigquery-table={table}", "--use-table-schema"],
        ["gcloud", "run", "jobs", "deploy", "bankrisk-export", "--project", "bank-risk-prod",
         "--region", "europe-west1", "--image", IMAGE, "--service-account", sa,
         "--command=bankrisk", "--args=monitor,export,--to,pubsub://bank-risk-prod/bankrisk-predictions",
         "--set-secrets=BANKRISK_PREDICTION_LOG=bankrisk-prediction-log:latest",
         "--tasks=1", "--max-retries=1", "--task-timeout=900s",
         "--set-cloudsql-instances=bank-risk-prod:europe-west1:bankrisk-log"],
        ["gcloud", "scheduler", "jobs", "create", "http", "bankrisk-export",
         "--project", "bank-risk-prod", "--location", "europe-west1",
         "--schedule=*/10 * * * *",
         "--uri=https://run.googleapis.com/v2/projects/bank-risk-prod/locations/europe-west1/"
         "jobs/bankrisk-export:run",
         "--http-method=POST", f"--oauth-service-account-email={sa}"],
        ["bq", "mk", "--transfer_config", *at, "--data_source=scheduled_query",
         "--display_name=bankrisk drift", "--schedule=every 24 hours",
         f"--service_account_name={sa}", commands[8][-1]],
    ]  # fmt: skip
    assert commands[9:] == [
        ["gcloud", "alpha", "monitoring", "policies", "create", "--project", "bank-risk-prod",
         f"--policy-from-file={out}/drift-alert-policy.yaml",
         "--notification-channels=projects/bank-risk-prod/notificationChannels/42"],
    ]  # fmt: skip
    # The scheduled query is the command's, generated from the bundle.
    params = json.loads(commands[8][-1].removeprefix("--params="))
    expected = subprocess.run(
        [str(BANKRISK), "monitor", "drift-sql", "--model-dir", str(small_bundle_dir),
         "--dialect", "bigquery", "--table", "bank-risk-prod.bankrisk_monitoring.predictions",
         "--until", "@run_time", "--lookback-hours", "24",
         "--insert-into", "bank-risk-prod.bankrisk_monitoring.drift_results", "--fail-on-alert"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert params == {"query": expected}
    assert "RAISE USING MESSAGE" in expected and "INTERVAL 86400 SECOND" in expected
    # The schemas are the code's, the policy matches the query's error entries.
    assert json.loads((out / "predictions.schema.json").read_text()) == bigquery_schema()
    assert json.loads((out / "drift_results.schema.json").read_text()) == results_schema()
    policy = yaml.safe_load((out / "drift-alert-policy.yaml").read_text())
    assert policy["displayName"] == "bankrisk drift job"
    (condition,) = policy["conditions"]
    assert condition["conditionMatchedLog"]["filter"] == (
        'resource.type="bigquery_dts_config" AND resource.labels.config_id="CONFIG_ID" '
        "AND severity>=ERROR"
    )
    assert policy["alertStrategy"]["notificationRateLimit"] == {"period": "3600s"}
    assert "bankrisk drift alert:" in policy["documentation"]["content"]
    # The look-ups go to stderr, one line each.
    assert result.stderr.splitlines() == [
        "gcloud pubsub topics describe bankrisk-predictions --project bank-risk-prod",
        r"gcloud projects describe bank-risk-prod --format=value\(projectNumber\)",
        "gcloud pubsub subscriptions describe bankrisk-predictions-bigquery --project "
        "bank-risk-prod",
        "gcloud scheduler jobs describe bankrisk-export --project bank-risk-prod --location "
        "europe-west1",
        "bq ls --transfer_config --transfer_location=EU --project_id=bank-risk-prod --format=json",
        r"gcloud alpha monitoring policies list --project bank-risk-prod "
        r"--filter=displayName=\"bankrisk\ drift\ job\" --format=value\(name\)",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--project", "X"], "invalid project id 'X'"),
        (["--image", ""], "--image needs a value"),
        (["--every-hours", "0"], "--every-hours must be a whole number of hours from 1 to 168"),
        (["--dataset", "bad-name"], "invalid dataset 'bad-name'"),
        (["--model-dir", "/no/such/bundle"], "--model-dir /no/such/bundle: no such bundle folder"),
        (["--bogus"], "unknown argument '--bogus'"),
    ],
)
def test_bad_options_are_one_line(
    change: list[str], message: str, small_bundle_dir: Path, tmp_path: Path
) -> None:
    base = ["--project", "bank-risk-prod", "--image", IMAGE, "--model-dir", str(small_bundle_dir)]
    result = drift_job("--dry-run", *base, *change, tmp_path=tmp_path)
    # a missing value is bash's own ${2:?} refusal (exit code 1), as in the other scripts
    assert result.returncode == (1 if "needs a value" in message else 2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "calls").exists()


def test_a_bundle_without_bins_stops_before_any_command(bundle_dir: Path, tmp_path: Path) -> None:
    result = drift_job(
        "--dry-run", "--project", "bank-risk-prod", "--image", IMAGE,
        "--model-dir", str(bundle_dir), "--out-dir", str(tmp_path / "out"), tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert "has no reference_distributions" in result.stderr
    assert "drift_job.sh: cannot generate the drift query" in result.stderr


def test_help_is_the_header(tmp_path: Path) -> None:
    result = drift_job("--help", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The scheduled drift job on Google Cloud")
    assert "--dry-run" in result.stdout and "set -e" not in result.stdout
