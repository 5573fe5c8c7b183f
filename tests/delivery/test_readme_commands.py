"""The README's commands work when pasted, and so do those of the pages under docs/.

Every command in a ```bash block of README.md or of the docs pages it links to is either run
here exactly as written, or listed below with the reason it cannot run offline in a test. The
rule: a command runs here when it only prints, which is when it has `--dry-run`, `DRY_RUN=1` or
`--help`, or is `make help` or a `make -n`.
Dry runs must exit 0, print only gcloud commands and call no gcloud (a fake one on PATH records
any call). A new README command that is neither runnable nor listed fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# The README and the pages its examples moved to (deploy, portfolio, monitoring, ...); the
# runbook and the SLO page write `--project P` as a placeholder, not as an example to paste.
PAGES = [
    README,
    *(p for p in sorted((REPO / "docs").glob("*.md")) if p.name not in ("runbook.md", "slo.md")),
]

# Not runnable offline in a test, and why (first match wins).
NOT_RUNNABLE = [
    (r"^make run\b", "installs, trains a champion if there is none, then serves until stopped"),
    (r"^make test\b", "the whole suite, this test included"),
    (r"^make benchmark-quality\b", "minutes of cross-validated training on the shared data"),
    (r"^make benchmark-serving\b", "needs a trained champion and wrk; minutes of load"),
    (
        r"^\.venv/bin/python benchmarks/ab_serving\.py\b",
        "needs a trained champion, a second copy of the source and wrk; minutes of load",
    ),
    (r"^make image\b", "needs a Docker engine (the container test builds the image)"),
    (
        r"^make serve-requirements\b",
        "rewrites requirements/serve.txt (run on a copy in test_make_targets.py)",
    ),
    (r"^make cloud-build\b", "submits a build to Google Cloud (its DRY_RUN=1 form runs here)"),
    (
        r"^deploy/canary\.sh --project\b",
        "changes a Cloud Run service (the --dry-run forms run here)",
    ),
    (r"^curl\b", "needs the API running (tests/serving sends the same request)"),
    (r"^pip install 'bankrisk\[console\]'", "installs from an index (make install has it)"),
    (r"^export 'BANKRISK_CONSOLE_KEY=", "sets a variable for the next command"),
    (
        r"^bankrisk console\b",
        "serves until stopped (tests/console start it as a process, with a key)",
    ),
    (
        r"^bankrisk monitor drift-sql\b",
        "needs a trained champion (tests/monitoring/test_drift_sql.py runs what it prints)",
    ),
    (
        r"^bankrisk monitor export\b",
        "needs a log and Pub/Sub (tests/prediction_log/test_pubsub_export.py, on the emulator)",
    ),
    (
        r"^\.venv/bin/python benchmarks/(request_cost|monitoring_scale|console_pages)\.py\b",
        "needs a trained champion; minutes of measurement",
    ),
]
# Dry runs that need what a fresh clone lacks, run by another test.
DRY_RUNS_ELSEWHERE = [
    (
        r"^deploy/drift_job\.sh --dry-run\b",
        "needs a trained champion's bins (tests/monitoring/test_drift_job_script.py runs the dry "
        "run on a test bundle)",
    ),
]
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")  # deploy/canary.sh's rule


def readme_commands() -> list[str]:
    """The commands of every ```bash block, continuation lines and multi-line quotes joined,
    comments dropped (a command is what a shell would run)."""
    blocks = [
        block
        for page in PAGES
        for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
    ]
    commands: list[str] = []
    for block in blocks:
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            if pending.endswith("\\"):
                continue
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on
                continue
            if words:
                commands.append(shlex.join(words))
            pending = ""
        assert not pending, f"unterminated command in README: {pending!r}"
    return commands


COMMANDS = readme_commands()


def runnable(command: str) -> bool:
    words = shlex.split(command)
    elsewhere = any(re.search(pattern, command) for pattern, _ in DRY_RUNS_ELSEWHERE)
    return not elsewhere and (
        "--dry-run" in words
        or "DRY_RUN=1" in words
        or "--help" in words
        or words[:2] == ["make", "help"]
        or words[:2] == ["make", "-n"]
    )


def reason(command: str) -> str | None:
    listed = [*NOT_RUNNABLE, *DRY_RUNS_ELSEWHERE]
    return next((why for pattern, why in listed if re.search(pattern, command)), None)


RUNNABLE = [c for c in COMMANDS if runnable(c)]


def test_the_readme_has_runnable_examples() -> None:
    assert len(COMMANDS) >= 10, COMMANDS
    joined = "\n".join(RUNNABLE)
    for needle in ("canary.sh --dry-run", "make canary-shift", "make cloud-build", "--help"):
        assert needle in joined, f"no runnable README example with {needle!r}: {RUNNABLE}"


def test_every_other_readme_command_says_why_it_does_not_run_here() -> None:
    unexplained = [c for c in COMMANDS if not runnable(c) and reason(c) is None]
    assert not unexplained, (
        "README commands that are neither run by this test nor listed in NOT_RUNNABLE with a "
        f"reason: {unexplained}"
    )


def test_readme_project_ids_are_valid() -> None:
    text = "\n".join(page.read_text() for page in PAGES)
    ids = re.findall(r"(?:--project[ =]|PROJECT_ID=)([^\s`]+)", text)
    assert ids, "no example project id in the README"
    bad = sorted({i for i in ids if not PROJECT_ID.match(i)})
    assert not bad, f"example project ids that deploy/canary.sh refuses: {bad}"


@pytest.mark.parametrize("command", RUNNABLE)
def test_readme_command_runs_as_written(command: str, tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "gcloud-calls"
    (fake / "gcloud").write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(calls))}\n')
    (fake / "gcloud").chmod(0o755)
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAKE", "MFLAGS", "BANKRISK_"))
        and k not in ("PROJECT_ID", "REGION", "SERVICE", "TAG", "DRY_RUN", "PORT", "VERSION")
    }
    env = {**inherited, "PATH": f"{fake}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        ["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.strip(), f"{command}: printed nothing"
    assert not calls.exists(), f"{command}: called gcloud"
    if "--dry-run" in command or "DRY_RUN=1" in command:
        lines = proc.stdout.strip().splitlines()
        assert all(line.startswith("gcloud ") for line in lines), proc.stdout
        assert "my-project" in proc.stdout
