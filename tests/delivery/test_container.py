"""Build the real Dockerfile on a private Docker engine, serve it on 127.0.0.1, check it.

Runs tests/delivery/engine/container_test.sh (about 60 s from nothing, 20-30 s with the cached
base rootfs). The engine not starting is a failure, never a skip: this is the proof the image works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.system_deps import install_system_deps

REPO = Path(__file__).resolve().parents[2]
MAX_IMAGE_BYTES = 350_000_000


@pytest.mark.container
@pytest.mark.timeout(900)
def test_image_builds_serves_and_predicts_like_the_bundle(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "the container test needs root (it starts a private dockerd)"
    deps = install_system_deps()
    assert deps is not None
    assert deps.returncode == 0, f"make system-deps failed:\n{deps.stdout}{deps.stderr}"

    bundle = tmp_path / "bundle"
    made = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "demo_bundle.py"), str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr

    report = tmp_path / "report.json"
    # The engine's work dir goes under $TMPDIR (default /tmp), not tmp_path: unix socket paths
    # (containerd's lives under it) must stay short.
    work_root = Path(os.environ.get("TMPDIR", "/tmp"))
    before = set(work_root.glob("bankrisk-ct.*"))
    env = {**os.environ, "VENV": str(Path(sys.executable).parent.parent), "HOST_PY": sys.executable}
    proc = subprocess.run(
        [
            "bash",
            str(REPO / "tests" / "delivery" / "engine" / "container_test.sh"),
            "--bundle",
            str(bundle),
            "--report",
            str(report),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    sys.stderr.write(proc.stderr)
    steps = "\n".join(line for line in proc.stderr.splitlines() if "level=" not in line)
    assert proc.returncode == 0, f"container test failed:\n{steps[-8000:]}"

    facts = json.loads(report.read_text())
    assert facts["image_size_bytes"] < MAX_IMAGE_BYTES, facts
    assert facts["server_uid"] != 0
    assert facts["model_version"] == "0"
    # Nothing left behind: the work dir and its mounts are gone.
    assert set(work_root.glob("bankrisk-ct.*")) <= before
    assert "bankrisk-ct." not in Path("/proc/mounts").read_text()
