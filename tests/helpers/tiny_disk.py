"""A 64 KiB tmpfs: a disk that fills up, for the prediction log's full-disk tests (skipped
where mounting is not allowed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def mount_tiny_disk(folder: Path) -> Path:
    """`folder`, a fresh 64 KiB tmpfs; the test is skipped if it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    return folder


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False)
