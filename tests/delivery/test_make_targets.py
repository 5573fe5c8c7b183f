"""Make targets run for real in a throwaway copy of the build files (never in the work tree):
`make clean` leaves no orphan, `make cloud-build DRY_RUN=1` prints the exact gcloud command and
runs nothing, `make serve-requirements` writes the file and says one line, `make run` with a
champion says that DATA goes unused."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.delivery import uv

REPO = Path(__file__).resolve().parents[2]
BUILD_FILES = ("Makefile", "deploy/delivery.mk", "pyproject.toml", "cloudbuild.yaml", "uv.lock")
SETTINGS_ENV = ("PROJECT_ID", "REGION", "DRY_RUN", "VERSION", "MODEL_DIR", "GCLOUD", "DATA")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the repo's build files (Makefile, deploy/delivery.mk, ...) in an empty folder."""
    root = tmp_path / "repo"
    for rel in BUILD_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    return root


@pytest.fixture
def gcloud(tmp_path: Path) -> Path:
    """A fake gcloud first on PATH; the file it returns records every call, one per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gcloud-calls"
    script = bin_dir / "gcloud"
    script.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> {shlex.quote(str(calls))}\n')
    script.chmod(0o755)
    return calls


def make(
    root: Path, *args: str, path_prefix: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in SETTINGS_ENV and not k.startswith("MAKE")
    }
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- make clean -----------------------------------------------------------------------------------
ORPHANS = (
    "mlflow.db",
    "mlflow.db-journal",
    "mlruns/0/meta.yaml",
    "mlruns/1/abc/artifacts/bundle/model.npz",
    "mlartifacts/1/abc/artifacts/model_card.md",
    "reports/run-1/roc.png",
    "models/champion/metadata.json",
    ".pytest_cache/v/cache/nodeids",
    ".mypy_cache/3.11/cache.db",
    ".ruff_cache/0.8.0/123",
    ".hypothesis/examples/abc/def",
    "build/lib/bankrisk/__init__.py",
    "dist/bankrisk-0.1.0-py3-none-any.whl",
    "src/bankrisk.egg-info/PKG-INFO",
    "src/bankrisk/__pycache__/cli.cpython-311.pyc",
    "tests/delivery/__pycache__/test_static.cpython-311-pytest-8.3.pyc",
    "src/bankrisk/stray.pyc",
    "data/prediction-log/predictions.db",
    "data/prediction-log/predictions.db-wal",
    "data/prediction-log/spool/rows.jsonl",
)
KEPT = (
    "src/bankrisk/cli/__init__.py",
    "tests/test_cli.py",
    "README.md",
    ".venv/lib/python3.11/site-packages/numpy/__pycache__/__init__.cpython-311.pyc",
    ".venv/bin/python",
    ".tools/bin/uv",
    ".git/HEAD",
)


def touch(root: Path, *paths: str) -> None:
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_clean_leaves_no_orphan(tree: Path) -> None:
    touch(tree, *ORPHANS, *KEPT)
    (tree / "data").mkdir(exist_ok=True)  # what a failed download used to leave
    proc = make(tree, "clean")
    assert proc.returncode == 0, proc.stderr
    assert files_under(tree) == {*BUILD_FILES, *KEPT}
    top = {p.name for p in tree.iterdir()}
    assert top == {
        "Makefile",
        "deploy",
        "pyproject.toml",
        "cloudbuild.yaml",
        "uv.lock",
        "src",
        "tests",
        "README.md",
        ".venv",
        ".tools",
        ".git",
    }, sorted(top)


def test_clean_keeps_a_downloaded_data_set_but_not_partial_downloads(tree: Path) -> None:
    touch(
        tree,
        "data/default_of_credit_card_clients.xls",
        "data/default_of_credit_card_clients.xls.sha256",
        "data/.default_of_credit_card_clients.xls.zip.part",
        "data/.default_of_credit_card_clients.part.xls",
        "data/prediction-log/predictions.db",
    )
    proc = make(tree, "clean")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tree / "data").iterdir()) == [
        "default_of_credit_card_clients.xls",
        "default_of_credit_card_clients.xls.sha256",
    ]


# What .gitignore ignores but `make clean` keeps, and why. Everything else it ignores is local
# state that clean must remove: a new .gitignore entry needs one or the other.
CLEAN_KEEPS = {
    ".venv/": "the environment `make install` made (not an orphan; `make install` is slow)",
    "/.tools/": "the pinned uv that `make install` bootstrapped",
    "/data/": "a downloaded data set (an empty data/ and partial downloads are removed)",
}


def gitignore_entries() -> list[str]:
    lines = (REPO / ".gitignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "!"))]


def test_clean_removes_everything_gitignore_calls_local_state(tree: Path) -> None:
    samples = {}
    for entry in gitignore_entries():
        rel = entry.strip("/").replace("*", "sample")
        path = f"{rel}/file" if entry.endswith("/") else rel
        if "/" not in entry.rstrip("/"):  # an unanchored pattern: also somewhere deeper
            path = f"src/bankrisk/{path}"
        samples[entry] = path
    touch(tree, *samples.values())
    proc = make(tree, "clean")
    assert proc.returncode == 0, proc.stderr
    left = {entry for entry, path in samples.items() if (tree / path).exists()}
    assert left == set(CLEAN_KEEPS), f"make clean leaves: {sorted(left - set(CLEAN_KEEPS))}"


# --- make run ------------------------------------------------------------------------------------
def fake_tools(tmp_path: Path) -> tuple[list[str], Path]:
    """UV= and BANKRISK= settings for a do-nothing uv and a bankrisk that records its calls (in
    the returned file, one per line), so that `make run` installs, trains and serves nothing."""
    calls = tmp_path / "bankrisk-calls"
    bankrisk = tmp_path / "fake-bankrisk"
    bankrisk.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> {shlex.quote(str(calls))}\n')
    uv = tmp_path / "fake-uv"
    uv.write_text("#!/usr/bin/env bash\n")
    for script in (bankrisk, uv):
        script.chmod(0o755)
    return [f"UV={uv}", f"BANKRISK={bankrisk}"], calls


def test_run_says_data_is_unused_when_a_champion_exists(tree: Path, tmp_path: Path) -> None:
    with_bundle(tree)
    tools, calls = fake_tools(tmp_path)
    proc = make(tree, "run", "DATA=other.csv", *tools)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "champion bundle found in models/champion",
        "serving the existing champion in models/champion: DATA=other.csv was not used for "
        "training",
        "to retrain on it: make train DATA=other.csv (or remove models/champion and make run "
        "again)",
    ]
    assert calls.read_text().splitlines() == ["serve --model-dir models/champion"]


def test_run_without_data_or_without_a_champion_is_unchanged(tree: Path, tmp_path: Path) -> None:
    tools, calls = fake_tools(tmp_path)
    proc = make(tree, "run", "DATA=other.csv", *tools)  # no champion: train on DATA, then serve
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert calls.read_text().splitlines() == [
        "train --data other.csv --model-dir models/champion",
        "serve --model-dir models/champion",
    ]
    calls.unlink()
    with_bundle(tree)
    proc = make(tree, "run", *tools)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["champion bundle found in models/champion"]
    assert calls.read_text().splitlines() == ["serve --model-dir models/champion"]


# --- make cloud-build ----------------------------------------------------------------------------
def git_revision(root: Path) -> str:
    """What delivery.mk computes for _TAG in `root`."""
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def expected_build(root: Path, model_version: str, project: str = "my-project") -> str:
    return (
        f"gcloud builds submit --project {project} --config cloudbuild.yaml "
        f"--substitutions=_REGION=europe-west1,_TAG={git_revision(root)},_VERSION=0.1.0,"
        f"_MODEL_VERSION={model_version} ."
    )


def with_bundle(root: Path, version: str = "12") -> None:
    touch(root, "models/champion/model.npz")
    touch(root, "models/champion/manifest.json")  # a complete bundle: `make bundle` keeps it
    (root / "models/champion/metadata.json").write_text(f'{{"version": "{version}"}}')


def test_cloud_build_dry_run_prints_the_exact_command_and_calls_nothing(
    tree: Path, gcloud: Path
) -> None:
    with_bundle(tree)
    proc = make(
        tree, "cloud-build", "PROJECT_ID=my-project", "DRY_RUN=1", path_prefix=gcloud.parent / "bin"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [expected_build(tree, "12")]
    assert not gcloud.exists(), "a dry run called gcloud"


def test_cloud_build_runs_what_its_dry_run_prints(tree: Path, gcloud: Path) -> None:
    with_bundle(tree)
    fake = gcloud.parent / "bin"
    dry = make(tree, "cloud-build", "PROJECT_ID=my-project", "DRY_RUN=1", path_prefix=fake)
    real = make(tree, "cloud-build", "PROJECT_ID=my-project", path_prefix=fake)
    assert real.returncode == 0, real.stderr
    assert gcloud.read_text().splitlines() == [shlex.join(shlex.split(dry.stdout)[1:])]


def test_cloud_build_dry_run_fetches_no_bundle(tree: Path, gcloud: Path) -> None:
    # No models/champion and no venv here: any attempt to fetch the bundle would fail.
    fake = gcloud.parent / "bin"
    proc = make(
        tree, "cloud-build", "PROJECT_ID=my-project", "DRY_RUN=1", "VERSION=7", path_prefix=fake
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [expected_build(tree, "7")]
    proc = make(tree, "cloud-build", "PROJECT_ID=my-project", "DRY_RUN=1", path_prefix=fake)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [expected_build(tree, "CHAMPION_VERSION")]
    assert "a real run fetches @champion first" in proc.stderr
    assert not gcloud.exists() and not (tree / "models").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "PROJECT_ID is required"),
        (["PROJECT_ID=P"], "invalid project id 'P'"),
        (["PROJECT_ID=my-project", "REGION=Europe West"], "invalid region"),
    ],
)
def test_cloud_build_refuses_bad_input(
    tree: Path, gcloud: Path, args: list[str], message: str
) -> None:
    with_bundle(tree)
    proc = make(tree, "cloud-build", "DRY_RUN=1", *args, path_prefix=gcloud.parent / "bin")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert proc.stdout == "" and not gcloud.exists()


# --- make serve-requirements --------------------------------------------------------------------
def test_serve_requirements_writes_the_files_and_prints_a_line_each(tree: Path) -> None:
    (tree / "requirements").mkdir()
    proc = make(tree, "serve-requirements", f"UV={uv()}")
    assert proc.returncode == 0, proc.stderr
    written = (tree / "requirements" / "serve.txt").read_text()
    with_feast = (tree / "requirements" / "serve-features.txt").read_text()
    with_console = (tree / "requirements" / "console.txt").read_text()
    packages, feast_packages, console_packages = (
        sum(1 for line in text.splitlines() if line[:1].isalnum())
        for text in (written, with_feast, with_console)
    )
    assert proc.stdout.splitlines() == [
        f"wrote requirements/serve.txt: {packages} hash-pinned packages from uv.lock",
        f"wrote requirements/serve-features.txt (the image with Feast): {feast_packages} packages",
        f"wrote requirements/console.txt (the image with the console): {console_packages} "
        "packages",
    ]
    assert proc.stderr == ""
    assert packages > 10 and "--hash=sha256:" in written
    assert feast_packages > packages and "\nfeast==" in with_feast
    assert console_packages > feast_packages and "\njinja2==" in with_console
    assert written == (REPO / "requirements" / "serve.txt").read_text()
    assert with_feast == (REPO / "requirements" / "serve-features.txt").read_text()
    assert with_console == (REPO / "requirements" / "console.txt").read_text()
