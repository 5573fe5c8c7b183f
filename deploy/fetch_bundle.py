"""Download a registered model's serving bundle from the MLflow registry into a folder.

    .venv/bin/python deploy/fetch_bundle.py --dest models/champion              # @champion
    .venv/bin/python deploy/fetch_bundle.py --dest models/champion --version 7
    .venv/bin/python deploy/fetch_bundle.py --dest out --alias challenger

The tracking server is MLFLOW_TRACKING_URI (default sqlite:///mlflow.db, the local store in
the repo root). The bundle is the artifact folder `artifacts/bundle` of the registered pyfunc
model. It is checked (ModelBundle.load verifies its checksums) before it replaces DEST, so a
failed download never leaves a half-written bundle behind. Needs the training install (mlflow).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        bundle = local / "artifacts" / "bundle"
        if not (bundle / "metadata.json").is_file():
            raise SystemExit(f"error: {uri} has no artifacts/bundle/metadata.json")
        ModelBundle.load(bundle)  # raises BundleError on a corrupt or incomplete bundle
        staged = Path(tmp) / "staged"
        shutil.copytree(bundle, staged)
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)
    metadata: dict[str, object] = json.loads((dest / "metadata.json").read_text())
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
