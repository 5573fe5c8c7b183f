"""The feature repository and its delivery: the local and GCP configurations, the definitions
`feast apply` sees, and the image's optional Feast requirements (in sync with uv.lock)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import yaml

from bankrisk.feature_store import ENTITY, FEATURE_VIEW, JOIN_KEY, TTL
from bankrisk.schema import FIELD_NAMES
from helpers.delivery import REPO, requirement_lines, uv
from helpers.feature_store import PROJECT_REPO

REQUIREMENTS = REPO / "requirements"
EXTRAS = ("--extra", "serve", "--extra", "features")


def pinned(path: Path) -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", path.read_text(), re.MULTILINE))


def test_the_local_store_runs_anywhere_with_paths_inside_the_repo() -> None:
    config = yaml.safe_load((PROJECT_REPO / "feature_store.yaml").read_text())
    assert config["provider"] == "local"
    assert config["online_store"]["type"] == "sqlite"
    assert config["offline_store"]["type"] == "file"
    for path in (config["registry"]["path"], config["online_store"]["path"]):
        assert not Path(path).is_absolute() and not path.startswith(".."), path


def test_the_gcp_store_is_bigquery_offline_and_redis_or_bigtable_online() -> None:
    text = (PROJECT_REPO / "feature_store.gcp.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["provider"] == "gcp"
    assert config["offline_store"]["type"] == "bigquery"
    assert config["online_store"]["type"] == "redis"
    assert "#   type: bigtable" in text
    assert config["registry"]["path"].startswith("gs://${")  # from the environment


def test_feast_apply_in_the_folder_registers_the_packages_objects() -> None:
    spec = importlib.util.spec_from_file_location("features", PROJECT_REPO / "features.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    view, entity = module.customer_features, module.customer
    assert (entity.name, entity.join_key) == (ENTITY, JOIN_KEY)
    assert view.name == FEATURE_VIEW and view.ttl == TTL
    assert [f.name for f in view.features] == list(FIELD_NAMES)


def test_the_features_requirements_are_in_sync_with_the_lock() -> None:
    proc = subprocess.run(
        [uv(), "export", "--frozen", "--no-dev", "--no-emit-project", *EXTRAS, "--no-header"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    committed = (REQUIREMENTS / "serve-features.txt").read_text()
    assert requirement_lines(proc.stdout) == requirement_lines(committed), (
        "requirements/serve-features.txt is stale: run `make -f deploy/delivery.mk "
        "serve-requirements`"
    )


def test_only_the_features_image_gets_feast() -> None:
    plain, features = (
        pinned(REQUIREMENTS / "serve.txt"),
        pinned(REQUIREMENTS / "serve-features.txt"),
    )
    assert "feast" in features and "feast" not in plain
    assert plain <= features
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG FEATURES=false" in dockerfile
    assert re.search(r'if \[ "\$FEATURES" = true \]; then \\\s+\S+pip install', dockerfile)
    assert "-r requirements/serve-features.txt" in dockerfile
