"""Download a registered model's serving bundle from the MLflow registry into a folder.

    .venv/bin/python deploy/fetch_bundle.py --dest models/champion              # @champion
    .venv/bin/python deploy/fetch_bundle.py --dest models/champion --version 7
    .venv/bin/python deploy/fetch_bundle.py --dest out --alias challenger

The tracking server is MLFLOW_TRACKING_URI (default sqlite:///mlflow.db, the local store in
the repo root). The bundle is the artifact folder `artifacts/bundle` of the registered pyfunc
model. It is loaded and checked (manifest checksums, fields, a probe run) before it replaces
DEST in one swap (`bundle.store.install_bundle`), so a failed or corrupt download never
leaves DEST half-written. Needs the training install (mlflow).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_NAME = "bank-default-risk"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def model_uri(name: str, version: str | None, alias: str) -> str:
    return f"models:/{name}/{version}" if version else f"models:/{name}@{alias}"


def fetch(uri: str, dest: Path) -> dict[str, object]:
    import mlflow

    from bankrisk.bundle.model_bundle import ModelBundle
    from bankrisk.bundle.store import BUNDLE_ARTIFACT_PATH, METADATA_FILE, install_bundle
    from bankrisk.errors import BundleError

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        bundle = local / BUNDLE_ARTIFACT_PATH
        try:
            ModelBundle.load(bundle)
        except BundleError as exc:
            raise SystemExit(f"error: {uri}: {exc}") from None
        install_bundle(bundle, dest)
    metadata: dict[str, object] = json.loads((dest / METADATA_FILE).read_text(encoding="utf-8"))
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True, help="Bundle folder to (re)write")
    parser.add_argument("--name", default=DEFAULT_NAME, help="Registered model name")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help="Registry version number")
    which.add_argument("--alias", default="champion", help="Registry alias [champion]")
    args = parser.parse_args(argv)
    if args.version is not None and not args.version.isdigit():
        parser.error("--version must be a number")
    uri = model_uri(args.name, args.version, args.alias)
    metadata = fetch(uri, args.dest)
    print(  # noqa: T201
        f"{uri} -> {args.dest} ({metadata.get('name')} v{metadata.get('version')})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
