"""Fast static checks of the delivery files: no engine, no network (seconds, every run)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pathspec
import pytest
import yaml
from docker.utils.build import exclude_paths

from helpers.delivery import REPO, requirement_lines, uv

BIN = Path(sys.executable).parent
DOCKERFILE = REPO / "Dockerfile"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
DEPENDABOT = REPO / ".github" / "dependabot.yml"
ENGINE_DIR = REPO / "tests" / "delivery" / "engine"
SHELL_SCRIPTS = sorted(
    [*(REPO / "deploy").glob("*.sh"), *ENGINE_DIR.glob("*.sh"), REPO / ".ci" / "run"]
)
FORBIDDEN_SERVE_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "scikit-learn",
    "mlflow",
    "pandas",
    "lightgbm",
    "mlflow-skinny",
    "matplotlib",
)

# Files the image needs (relative to the repo root) and files it must never hold.
BUNDLE_FILES = (
    "models/champion/metadata.json",
    "models/champion/model.npz",
    "models/champion/model_card.md",
    "models/champion/manifest.json",
)
JUNK_FILES = (
    ".venv/lib/python3.11/site-packages/numpy/__init__.py",
    ".tools/bin/uv",
    ".git/HEAD",
    "mlruns/1/abc/artifacts/bundle/model.npz",
    "mlartifacts/1/abc/artifacts/model.pkl",
    "mlflow.db",
    "data/default_of_credit_card_clients.xls",
    "data/raw/default_of_credit_card_clients.csv",
    "reports/run-1/roc.png",
    "models/challenger/model.npz",
    "models/old.npz",
    "src/bankrisk/__pycache__/cli.cpython-311.pyc",
    "src/bankrisk/data/__pycache__/load.cpython-311.pyc",
    ".pytest_cache/v/cache/nodeids",
    ".mypy_cache/3.11/cache.db",
    ".ruff_cache/content",
    "tests/conftest.py",
    "benchmarks/model_quality.py",
    "dist/bankrisk-0.1.0-py3-none-any.whl",
    "src/bankrisk.egg-info/PKG-INFO",
    "models/champion/debug/sample.csv",
)


def tool(name: str) -> str:
    """A dev tool from this venv (CI's `make install`), else from PATH; a missing one fails."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} not found in {BIN} or PATH: run `make install`"
    return found


# --- Dockerfile -------------------------------------------------------------------------------
def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_hadolint_finds_nothing_at_warning_level() -> None:
    proc = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_trivy_config_finds_no_high_or_critical(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            tool("trivy"),
            "config",
            "--skip-check-update",
            "--quiet",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--severity",
            "HIGH,CRITICAL",
            "--exit-code",
            "1",
            "--format",
            "json",
            "--output",
            str(tmp_path / "trivy.json"),
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = (
        json.loads((tmp_path / "trivy.json").read_text())
        if (tmp_path / "trivy.json").exists()
        else {}
    )
    findings = [
        f"{m['ID']} {m['Severity']}: {m['Title']}"
        for result in report.get("Results", [])
        for m in result.get("Misconfigurations", [])
    ]
    assert proc.returncode == 0 and not findings, (findings, proc.stderr[-2000:])
    assert report.get("Results") is not None, "trivy did not scan the Dockerfile"


def test_dockerfile_has_no_syntax_line_and_uses_slim_base() -> None:
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    froms = [args for kind, args in instructions() if kind == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    assert all(args.split()[0] == "python:3.11-slim" for args in froms), froms


def test_dockerfile_installs_only_the_locked_serving_set_into_a_venv() -> None:
    runs = " ".join(args for kind, args in stages()[0] if kind == "RUN")
    assert "python -m venv /opt/venv" in runs
    assert re.search(r"pip install [^&]*--require-hashes[^&]*-r requirements/serve\.txt", runs)
    assert "--only-binary=:all:" in runs, "wheels only: no compiler is ever needed"
    assert re.search(r"pip install [^&]*--no-deps[^&]* \./?", runs)
    everything = DOCKERFILE.read_text().lower()
    for banned in (
        "tensorflow",
        "scikit-learn",
        "sklearn",
        "mlflow",
        "gcc",
        "build-essential",
        "mlruns",
    ):
        assert banned not in everything.replace("# no tensorflow, scikit-learn, mlflow", ""), banned
    # The builder may install binutils (for `strip`), nothing else; the runtime stage nothing.
    installed = re.findall(r"apt-get install ([^&]*)", runs)
    assert [p for args in installed for p in args.split() if not p.startswith("-")] in (
        [],
        ["binutils"],
    ), installed
    assert not any("apt-get" in args for kind, args in stages()[-1] if kind == "RUN")
    local_state = re.compile(r"\.?/?(data|mlruns|mlartifacts|mlflow\.db|reports|\.venv)\b")
    for source in copy_sources():
        assert not local_state.match(source), source


def test_runtime_stage_is_non_root_with_healthcheck_labels_and_port() -> None:
    final = stages()[-1]
    kinds = [k for k, _ in final]
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "COPY"), (
        "USER must come after the COPYs"
    )
    health = " ".join(a for k, a in final if k == "HEALTHCHECK")
    assert "/ready" in health and "--interval" in health
    labels = " ".join(a for k, a in final if k == "LABEL")
    for key in (
        "org.opencontainers.image.source",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.version",
        "io.bankrisk.model.version",
    ):
        assert key in labels, key
    env = " ".join(a for k, a in final if k == "ENV")
    assert "PORT=8080" in env and "/opt/venv/bin" in env
    assert "8080" in " ".join(a for k, a in final if k == "EXPOSE")
    entry = json.loads(next(a for k, a in final if k == "ENTRYPOINT"))
    cmd = json.loads(next(a for k, a in final if k == "CMD"))
    assert entry == ["bankrisk", "serve"], "exec form: the server is PID 1 and gets SIGTERM"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--model-dir") + 1] == "/app/model"
    copies = [a for k, a in final if k == "COPY"]
    assert any(a.startswith("--from=builder /opt/venv") for a in copies)
    assert any("models/champion" in a and "/app/model" in a for a in copies)


def copy_sources() -> list[str]:
    sources = []
    for kind, args in instructions():
        if kind not in ("COPY", "ADD"):
            continue
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        if re.search(r"--from=", args):
            continue
        sources.extend(parts[:-1])
    return sources


# --- build context ----------------------------------------------------------------------------
def repo_files() -> list[str]:
    # Local state is skipped at the top level only: src/bankrisk/data/ is source code.
    top_skip = {
        ".git",
        ".venv",
        ".tools",
        "mlruns",
        "mlartifacts",
        "data",
        "reports",
        "models",
        "build",
        "dist",
    }
    skip = {".mypy_cache", ".pytest_cache", ".ruff_cache", "__pycache__", "node_modules"}
    found = []
    for root, dirs, files in os.walk(REPO):
        rel = Path(root).relative_to(REPO)
        dirs[:] = [d for d in dirs if d not in skip and not (str(rel) == "." and d in top_skip)]
        found.extend(str(rel / f) if str(rel) != "." else f for f in files)
    return found


@pytest.fixture(scope="module")
def work_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's files (empty copies) plus a bundle and the local state a dev machine has."""
    root = tmp_path_factory.mktemp("context")
    for rel in (*repo_files(), *BUNDLE_FILES, *JUNK_FILES):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def docker_context(root: Path) -> set[str]:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return set(exclude_paths(str(root), patterns, dockerfile="Dockerfile"))


def test_dockerignore_keeps_what_the_image_needs(work_tree: Path) -> None:
    kept = docker_context(work_tree)
    for rel in (
        *BUNDLE_FILES,
        "pyproject.toml",
        "README.md",
        "requirements/serve.txt",
        "src/bankrisk/__init__.py",
        "src/bankrisk/cli/__init__.py",
        "src/bankrisk/data/__init__.py",
        "src/bankrisk/bundle/model_bundle.py",
        "src/bankrisk/serving/__init__.py",
    ):
        assert rel in kept, f".dockerignore drops {rel}"
    tracked_src = {f for f in repo_files() if f.startswith("src/")}
    assert tracked_src <= kept, sorted(tracked_src - kept)


def test_dockerignore_drops_data_venvs_mlflow_and_caches(work_tree: Path) -> None:
    kept = docker_context(work_tree)
    leaked = sorted(set(JUNK_FILES) & kept)
    assert not leaked, f"in the build context: {leaked}"
    allowed_top = {
        "Dockerfile",
        ".dockerignore",
        "pyproject.toml",
        "README.md",
        "requirements",
        "src",
        "models",
    }
    assert {p.split("/")[0] for p in kept} <= allowed_top, sorted(kept)
    # Only the repository's own files and the bundle (was a bound of 200 paths, which the
    # source outgrew: this is the property the bound stood for).
    files = {p for p in kept if (work_tree / p).is_file()}
    allowed = {*repo_files(), *BUNDLE_FILES}
    assert files <= allowed, sorted(files - allowed)


def test_every_copy_source_exists_in_the_repo_and_the_context(work_tree: Path) -> None:
    kept = docker_context(work_tree)
    sources = copy_sources()
    assert "requirements/serve.txt" in sources and any("models/champion" in s for s in sources)
    for source in sources:
        src = source.rstrip("/")
        assert any(k == src or k.startswith(src + "/") for k in kept), (
            f"COPY {source}: not in the build context"
        )
        if not src.startswith("models/"):  # the bundle is fetched by `make image`
            assert (REPO / src).exists(), f"COPY {source}: missing from the repo"


def test_gcloudignore_uploads_the_bundle_and_the_build_files(work_tree: Path) -> None:
    lines = (REPO / ".gcloudignore").read_text().splitlines()
    assert not any(line.strip().startswith("#!include") for line in lines), (
        "#!include:.gitignore would drop models/ (the bundle)"
    )
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    all_files = {str(p.relative_to(work_tree)) for p in work_tree.rglob("*") if p.is_file()}
    uploaded = {f for f in all_files if not spec.match_file(f)}
    for rel in (
        *BUNDLE_FILES,
        "Dockerfile",
        ".dockerignore",
        "cloudbuild.yaml",
        "pyproject.toml",
        "README.md",
        "requirements/serve.txt",
        "deploy/canary.sh",
        "deploy/lib.sh",  # canary.sh sources it
        "src/bankrisk/data/__init__.py",
        "src/bankrisk/cli/__init__.py",
    ):
        assert rel in uploaded, f".gcloudignore drops {rel}"
    junk = {j for j in JUNK_FILES if not j.startswith("models/champion/")}
    assert not junk & uploaded, sorted(junk & uploaded)


# --- serving requirements ---------------------------------------------------------------------
def test_serve_requirements_are_in_sync_with_the_lock() -> None:
    proc = subprocess.run(
        [
            uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--extra",
            "serve",
            "--no-header",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    committed = (REPO / "requirements" / "serve.txt").read_text()
    assert requirement_lines(proc.stdout) == requirement_lines(committed), (
        "requirements/serve.txt is stale: run `make serve-requirements`"
    )


def test_serve_requirements_are_hash_pinned_and_light() -> None:
    text = (REPO / "requirements" / "serve.txt").read_text()
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.MULTILINE)
    assert {"fastapi", "uvicorn", "numpy", "pydantic"} <= set(names), names
    assert not set(names) & set(FORBIDDEN_SERVE_PACKAGES), set(names) & set(
        FORBIDDEN_SERVE_PACKAGES
    )
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
    for block in blocks:
        if re.match(r"[A-Za-z0-9]", block):
            assert "==" in block and "--hash=sha256:" in block, block[:80]


# --- workflows and Cloud Build ---------------------------------------------------------------
def test_workflows_are_valid() -> None:
    assert WORKFLOWS, "no workflow files"
    proc = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if shutil.which("actionlint"):
        lint = subprocess.run(["actionlint", *map(str, WORKFLOWS)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout


def action_pins() -> list[tuple[str, str, str]]:
    """(workflow, `uses:` value, the rest of the line) for every step that uses an action."""
    uses = []
    for wf in WORKFLOWS:
        for line in wf.read_text().splitlines():
            match = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
            if match:
                uses.append((wf.name, match.group(1), match.group(2)))
    return uses


def test_every_action_is_pinned_to_a_release_commit_with_its_tag() -> None:
    """`OWNER/REPO@<40-hex SHA> # vX.Y.Z`: the comment is the release tag as the action's
    repository spells it (with the v; Dependabot rewrites SHA and comment together), and one
    action is pinned to one commit everywhere."""
    uses = action_pins()
    assert uses
    pinned: dict[str, set[tuple[str, str]]] = {}
    for name, ref, rest in uses:
        if ref.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{name}: {ref} not pinned"
        comment = re.fullmatch(r"\s*#\s*(v\d+\.\d+\.\d+)\s*", rest)
        assert comment, f"{name}: {ref} needs a `# vX.Y.Z` release comment, has {rest.strip()!r}"
        action, sha = ref.split("@")
        pinned.setdefault(action, set()).add((sha, comment.group(1)))
    drift = {action: pins for action, pins in pinned.items() if len(pins) > 1}
    assert not drift, f"actions pinned to more than one commit: {drift}"
    for text in (REPO / "README.md").read_text(), *(wf.read_text() for wf in WORKFLOWS):
        assert not re.search(r"from memory|without network|verify (them|each)", text, re.I), (
            "the pins were checked against the actions' repositories: no disclaimer"
        )


def test_dependabot_keeps_actions_and_python_dependencies_current() -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(DEPENDABOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load(DEPENDABOT.read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "uv"} <= set(updates), sorted(updates)
    for update in updates.values():
        assert update["directory"] == "/" and update["schedule"]["interval"], update
    assert (REPO / "uv.lock").is_file(), "the uv ecosystem updates uv.lock"


def workflow() -> dict:
    return yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())


def test_ci_workflow_covers_the_pipeline() -> None:
    wf = workflow()
    text = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    jobs = wf["jobs"]
    steps = [s for job in jobs.values() for s in job["steps"]]
    runs = " ".join(s.get("run", "") for s in steps)
    for needle in ("make lint", "make typecheck", "pytest", "pip-audit", "canary.sh deploy"):
        assert needle in runs, needle
    assert "linux/amd64,linux/arm64" in text
    trivy = next(s for s in steps if "trivy-action" in s.get("uses", ""))
    assert trivy["with"]["severity"] == "HIGH,CRITICAL" and str(trivy["with"]["exit-code"]) == "1"
    assert trivy["with"]["ignore-unfixed"] is True
    publish = jobs["publish"]
    assert "refs/heads/main" in publish["if"]
    assert publish["permissions"]["id-token"] == "write"
    auth = next(s for s in publish["steps"] if "google-github-actions/auth" in s.get("uses", ""))
    assert "workload_identity_provider" in auth["with"]
    assert "credentials_json" not in text, "no long-lived keys"
    assert wf["permissions"] == {"contents": "read"}


def test_cloudbuild_is_valid() -> None:
    proc = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.cloudbuild",
            str(REPO / "cloudbuild.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    image = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/${_IMAGE_NAME}:${_TAG}"
    assert build["images"] == [image]
    assert any(step["args"][0] == "push" for step in build["steps"] if "args" in step)


# --- Cloud Run service ------------------------------------------------------------------------
def test_cloud_run_service_definition() -> None:
    svc = yaml.safe_load((REPO / "deploy" / "service.yaml").read_text())
    assert svc["apiVersion"] == "serving.knative.dev/v1" and svc["kind"] == "Service"
    template = svc["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 1
    assert int(annotations["autoscaling.knative.dev/maxScale"]) >= 1
    spec = template["spec"]
    assert spec["serviceAccountName"]
    assert 1 <= spec["containerConcurrency"] <= 1000
    (container,) = spec["containers"]
    assert container["ports"][0]["containerPort"] == 8080
    limits = container["resources"]["limits"]
    assert limits["cpu"] and limits["memory"].endswith(("Mi", "Gi"))
    assert container["startupProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BANKRISK_MODEL_DIR"] == "/app/model"
    assert "PORT" not in env, "Cloud Run sets PORT itself"


# --- canary script ------------------------------------------------------------------------------
@pytest.fixture
def canary(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run deploy/canary.sh with a fake gcloud on PATH that records any call."""
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "gcloud-calls"
    (fake / "gcloud").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (fake / "gcloud").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    for key in ("PROJECT_ID", "REGION", "SERVICE", "TAG", "DRY_RUN", "SERVICE_ACCOUNT"):
        env.pop(key, None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(REPO / "deploy" / "canary.sh"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    run.calls = calls  # type: ignore[attr-defined]
    run.tmp = tmp_path  # type: ignore[attr-defined]
    return run


LOC = "--project bank-risk-prod --region europe-west1"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["deploy", "europe-west1-docker.pkg.dev/bank-risk-prod/bankrisk/bankrisk:abc"],
            f"gcloud run deploy bankrisk {LOC} --image "
            "europe-west1-docker.pkg.dev/bank-risk-prod/bankrisk/bankrisk:abc "
            "--no-traffic --tag canary --no-allow-unauthenticated --quiet",
        ),
        (
            ["shift", "10"],
            f"gcloud run services update-traffic bankrisk {LOC} --to-tags canary=10 --quiet",
        ),
        (
            ["promote"],
            f"gcloud run services update-traffic bankrisk {LOC} --to-tags canary=100 --quiet",
        ),
        (
            ["rollback"],
            f"gcloud run services update-traffic bankrisk {LOC} --to-tags canary=0 --quiet",
        ),
        (
            ["rollback", "bankrisk-00007-abc"],
            f"gcloud run services update-traffic bankrisk {LOC} "
            "--to-revisions bankrisk-00007-abc=100 --quiet",
        ),
    ],
)
def test_canary_dry_run_prints_the_exact_commands(canary, args: list[str], expected: str) -> None:  # type: ignore[no-untyped-def]
    proc = canary("--dry-run", "--project", "bank-risk-prod", *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [expected]
    assert not canary.calls.exists(), "dry run called gcloud"


def test_canary_options_and_public_opt_in(canary) -> None:  # type: ignore[no-untyped-def]
    proc = canary(
        "--dry-run",
        "--project",
        "bank-risk-prod",
        "--region",
        "us-central1",
        "--service",
        "risk-api",
        "--tag",
        "blue",
        "--allow-unauthenticated",
        "deploy",
        "img:1",
    )
    assert proc.stdout.strip() == (
        "gcloud run deploy risk-api --project bank-risk-prod --region us-central1 --image img:1 "
        "--no-traffic --tag blue --allow-unauthenticated --quiet"
    )


def test_canary_init_renders_the_service(canary) -> None:  # type: ignore[no-untyped-def]
    proc = canary("--dry-run", "--project", "bank-risk-prod", "init", "reg/img:1")
    assert proc.returncode == 0, proc.stderr
    rendered = canary.tmp / "bankrisk-service.yaml"
    assert proc.stdout.splitlines() == [f"gcloud run services replace {rendered} {LOC} --quiet"]
    svc = yaml.safe_load(rendered.read_text())
    assert svc["metadata"]["name"] == "bankrisk"
    spec = svc["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "reg/img:1"
    assert spec["serviceAccountName"] == "bankrisk-run@bank-risk-prod.iam.gserviceaccount.com"
    assert "${" not in rendered.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["shift", "101"],
        ["shift", "-5"],
        ["shift", "ten"],
        ["shift"],
        ["deploy"],
        ["promote", "extra"],
        ["launch"],
        ["--tag", "Bad_Tag", "promote"],
    ],
)
def test_canary_refuses_bad_input(canary, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    proc = canary("--dry-run", "--project", "bank-risk-prod", *args)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert proc.stdout == ""


def test_canary_needs_a_project_and_runs_gcloud_without_dry_run(canary) -> None:  # type: ignore[no-untyped-def]
    assert canary("--dry-run", "promote").returncode == 2
    proc = canary("--project", "bank-risk-prod", "shift", "25")
    assert proc.returncode == 0, proc.stderr
    assert canary.calls.read_text().split() == (
        f"run services update-traffic bankrisk {LOC} --to-tags canary=25 --quiet".split()
    )


def test_canary_runs_from_any_directory_and_its_help_is_its_header(tmp_path: Path) -> None:
    """deploy/lib.sh (run, die, usage) is found beside the script, whatever the directory."""

    def canary_in(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(REPO / "deploy" / "canary.sh"), *args],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=30,
        )

    helped = canary_in("--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("Canary releases of the bankrisk API on Cloud Run")
    assert "--dry-run" in helped.stdout and "set -e" not in helped.stdout
    promote = canary_in("--dry-run", "--project", "bank-risk-prod", "promote")
    assert promote.stdout.splitlines() == [
        f"gcloud run services update-traffic bankrisk {LOC} --to-tags canary=100 --quiet"
    ]
    refused = canary_in("--dry-run", "promote")
    assert refused.returncode == 2
    assert refused.stderr == "canary.sh: no project: give --project ID or set PROJECT_ID\n"


# --- make targets ---------------------------------------------------------------------------------
def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", "deploy/delivery.mk", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_image_fetches_the_requested_version_then_builds() -> None:
    proc = make("-n", "image", "VERSION=7")
    assert proc.returncode == 0, proc.stderr
    assert "deploy/fetch_bundle.py --dest models/champion --version 7" in proc.stdout
    assert "--alias champion" in proc.stdout  # the fallback when no VERSION and no bundle
    assert "build --network host" in proc.stdout and "MODEL_VERSION=" in proc.stdout


def test_make_canary_targets_dry_run() -> None:
    proc = make("-s", "canary-shift", "PERCENT=30", "PROJECT_ID=bank-risk-prod", "DRY_RUN=1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"gcloud run services update-traffic bankrisk {LOC} --to-tags canary=30 --quiet"
    )


def test_fetch_bundle_uri() -> None:
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import fetch_bundle
    finally:
        sys.path.pop(0)
    assert (
        fetch_bundle.model_uri("bank-default-risk", None, "champion")
        == "models:/bank-default-risk@champion"
    )
    assert (
        fetch_bundle.model_uri("bank-default-risk", "7", "champion")
        == "models:/bank-default-risk/7"
    )


def test_shell_scripts_parse() -> None:
    assert len(SHELL_SCRIPTS) >= 5, SHELL_SCRIPTS
    for script in SHELL_SCRIPTS:
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, (script.name, proc.stderr)


def test_shell_scripts_pass_shellcheck() -> None:
    proc = subprocess.run(
        [tool("shellcheck"), "--external-sources", "--format", "gcc", *map(str, SHELL_SCRIPTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the private Docker engine: test support, not delivery ----------------------------------
def test_private_engine_lives_with_the_tests_and_the_make_targets_find_it() -> None:
    assert not [p.name for p in (REPO / "deploy").glob("*.sh") if "dockerd" in p.read_text()], (
        "deploy/ holds what deploys; the private engine is in tests/delivery/engine/"
    )
    proc = make("-n", "engine-up", "engine-down", "container-test")
    assert proc.returncode == 0, proc.stderr
    scripts = re.findall(r"bash (\S+\.sh)", proc.stdout)
    assert len(scripts) == 3, proc.stdout
    for script in scripts:
        assert (REPO / script).is_file() and (REPO / script).parent == ENGINE_DIR, script
    for script in ENGINE_DIR.glob("*.sh"):
        comments = [
            line for line in script.read_text().splitlines() if line.lstrip().startswith("#")
        ]
        local = [c for c in comments if re.search(r"\b(here|these machines|this machine)\b", c)]
        assert not local, f"{script.name}: describe the general case, not one workplace: {local}"


# --- dependencies ------------------------------------------------------------------------------
def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    return {normalise(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements}  # type: ignore[union-attr]


def test_every_test_import_is_a_declared_dependency() -> None:
    """What the tests import is in pyproject (dependencies or an extra), not merely pulled in by
    something else: a dependency that drops it must not break the tests."""
    tests = REPO / "tests"
    local = {"bankrisk", *(p.stem for p in tests.rglob("*.py")), *(p.name for p in tests.iterdir())}
    local |= {p.stem for p in (REPO / "deploy").glob("*.py")}  # put on sys.path by some tests
    imported: dict[str, str] = {}
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    imported.setdefault(top, str(path.relative_to(REPO)))
    provided = importlib.metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = {
        module: where
        for module, where in imported.items()
        if not {normalise(d) for d in provided.get(module, [module])} & declared
    }
    assert "pytest" in imported and "yaml" in imported, imported
    assert not undeclared, f"imported by the tests but not declared in pyproject: {undeclared}"
