"""`make system-deps` for the tests that need a Debian package (Docker engine, Chromium,
PostgreSQL, Prometheus, redis-server for the Redis online store): the one target installs
whatever of them is missing, so CI needs no step of its own."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The suite runs in several worker processes (pytest-xdist): one apt at a time, the others
# wait for it and then find everything installed.
_LOCK = Path("/tmp/bankrisk-system-deps.lock")


def install_system_deps() -> subprocess.CompletedProcess[str] | None:
    """Run `make system-deps` as root (apt); None, doing nothing, when not root."""
    if os.geteuid() != 0:
        return None
    with _LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run(
            ["make", "--no-print-directory", "-f", "deploy/delivery.mk", "system-deps"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
