"""Where a reload finds the new champion (BANKRISK_MODEL_SOURCE), and how to tell it changed.

* A bundle directory (e.g. a Cloud Storage volume mount on Cloud Run): its marker is the
  sha256 of its `manifest.json`, which changes with every file of the bundle; the bundle is
  loaded from there (and verified against that manifest).
* `mlflow-registry://HOST[:PORT]/NAME@ALIAS`: MLflow's REST API over plain HTTP (urllib: the
  serving image has no mlflow package). The marker is the version the alias points at
  (`GET /api/2.0/mlflow/registered-models/alias`); the bundle is that version's artifact
  folder `artifacts/bundle`, downloaded file by file as its manifest lists them through the
  tracking server's artifact proxy (`GET /model-versions/get-artifact`)
  into a fresh directory, then loaded and verified like any other.

`marker()` and `fetch()` block (disk, network): the reloader calls them in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from bankrisk.bundle.store import BUNDLE_ARTIFACT_PATH, MANIFEST_FILE
from bankrisk.config import REGISTRY_SCHEME, REGISTRY_SOURCE
from bankrisk.errors import BundleError

HTTP_TIMEOUT_S = 30.0


class ModelSource(Protocol):
    def marker(self) -> str:
        """What identifies the current bundle at the source (changes when it does)."""
        ...

    def fetch(self) -> Path:
        """A local directory holding the bundle (loaded and verified by the caller)."""
        ...

    def release(self, path: Path) -> None:
        """Forget a directory `fetch` made, once loaded."""
        ...


def manifest_digest(directory: Path) -> str:
    """sha256 of a bundle directory's manifest.json ("" when it has none)."""
    try:
        return hashlib.sha256((directory / MANIFEST_FILE).read_bytes()).hexdigest()
    except OSError:
        return ""


class DirectorySource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def marker(self) -> str:
        return manifest_digest(self.path)

    def fetch(self) -> Path:
        return self.path

    def release(self, path: Path) -> None:
        pass

    def __str__(self) -> str:
        return str(self.path)


class RegistrySource:
    def __init__(self, uri: str) -> None:
        match = REGISTRY_SOURCE.fullmatch(uri)
        if match is None:
            raise ValueError(f"not a {REGISTRY_SCHEME}HOST/NAME@ALIAS source: {uri}")
        self.uri = uri
        self.base = f"http://{match.group(1)}"
        self.name, self.alias = match.group(2), match.group(3)

    def _get(self, route: str, **query: str) -> bytes:
        url = f"{self.base}{route}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode(errors="replace")
            raise BundleError(f"{self.uri}: GET {route} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise BundleError(f"{self.uri}: GET {route} failed: {exc}") from exc

    def _version(self) -> dict[str, Any]:
        body = self._get(
            "/api/2.0/mlflow/registered-models/alias", name=self.name, alias=self.alias
        )
        version: dict[str, Any] = json.loads(body)["model_version"]
        return version

    def marker(self) -> str:
        return str(self._version()["version"])

    def fetch(self) -> Path:
        version = str(self._version()["version"])
        target = Path(tempfile.mkdtemp(prefix="bankrisk-bundle-"))
        try:
            manifest = self._artifact(version, MANIFEST_FILE)
            files = json.loads(manifest).get("files")
            if not isinstance(files, dict):
                raise BundleError(f"{self.uri} v{version}: {MANIFEST_FILE} lists no files")
            for name in files:
                if "/" in name or name.startswith("."):
                    raise BundleError(f"{self.uri} v{version}: bad file name {name!r}")
                (target / name).write_bytes(self._artifact(version, name))
            (target / MANIFEST_FILE).write_bytes(manifest)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target

    def _artifact(self, version: str, name: str) -> bytes:
        return self._get(
            "/model-versions/get-artifact",
            path=f"{BUNDLE_ARTIFACT_PATH}/{name}",
            name=self.name,
            version=version,
        )

    def release(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def __str__(self) -> str:
        return self.uri


def open_source(value: str) -> ModelSource | None:
    """BANKRISK_MODEL_SOURCE as a source (None when empty)."""
    if not value:
        return None
    if value.startswith(REGISTRY_SCHEME):
        return RegistrySource(value)
    return DirectorySource(Path(value))
