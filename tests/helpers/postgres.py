"""A real, private PostgreSQL server for tests: Debian's `postgresql` binaries, a temporary
data directory, 127.0.0.1 on a free port and its unix socket in that directory.

The binaries are found under /usr/lib/postgresql/*/bin; if they are missing and we are root,
`make -f deploy/delivery.mk system-deps` installs them (as the container and chromium tests
do), else the tests are skipped saying why. PostgreSQL refuses to run as root, so as root the
server runs as the `postgres` OS user (created by Debian's package, or here if missing) via
`runuser`, and the temporary directory belongs to it. Stopped and deleted in teardown.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from helpers.processes import free_port
from helpers.system_deps import install_system_deps

PG_USER = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def postgres_bin_dir() -> Path:
    """The PostgreSQL binaries; installed when missing and root, else the test is skipped."""
    found = _bin_dir()
    if found is None:
        install_system_deps()
        found = _bin_dir()
    if found is None:
        pytest.skip(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; "
            "`make -f deploy/delivery.mk system-deps` installs Debian's postgresql)"
        )
    return found


class PostgresServer:
    """One private server; `url(db)` is its SQLAlchemy URL (pg8000, the serving driver)."""

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self._ensure_os_user()
        self.dir = Path(tempfile.mkdtemp(prefix="bankrisk-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if self.as_root:
            shutil.chown(self.dir, PG_USER, PG_USER)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self.start()

    @staticmethod
    def _ensure_os_user() -> None:
        if subprocess.run(["id", PG_USER], capture_output=True).returncode != 0:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    PG_USER,
                ],
                check=True,
                capture_output=True,
            )

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if check and proc.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {proc.stdout}{proc.stderr}\n{tail}")
        return proc

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", check=False
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+pg8000://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import pg8000.native

        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = pg8000.native.Connection(
            PG_USER, host="127.0.0.1", port=self.port, database="postgres"
        )
        try:
            connection.run(f'CREATE DATABASE "{name}"')  # pg8000.native: autocommit
        finally:
            connection.close()
        return self.url(name)

    def wait_ready(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if (
                self._run(
                    "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False
                ).returncode
                == 0
            ):
                return
            time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not become ready")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
