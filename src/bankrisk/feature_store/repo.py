"""Opening a Feast repository folder, with a clear error when it is not one."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bankrisk.feature_store import FeatureStoreError

CONFIG_FILE = "feature_store.yaml"


def check_repo(repo: Path) -> Path:
    """`repo` if it holds a feature_store.yaml, else FeatureStoreError saying what to do."""
    if not repo.is_dir():
        raise FeatureStoreError(f"feature repository {repo}: no such folder")
    if not (repo / CONFIG_FILE).is_file():
        raise FeatureStoreError(
            f"feature repository {repo}: no {CONFIG_FILE} (copy the project's "
            f"feature_repo/{CONFIG_FILE} there, or point at feature_repo/)"
        )
    return repo


def open_store(repo: Path) -> Any:
    """Feast's FeatureStore of the repository (imports Feast); FeatureStoreError if its
    configuration cannot be read."""
    check_repo(repo)
    try:
        with _environment_kept():
            from feast import FeatureStore
    except ModuleNotFoundError as exc:
        raise FeatureStoreError(
            f"the feature store needs the `features` extra ({exc.name} is missing): "
            "pip install 'bankrisk[features]'"
        ) from None
    try:
        return FeatureStore(repo_path=str(repo))
    except Exception as exc:  # Feast's config errors have many types (pydantic, yaml, ...)
        message = " ".join(str(exc).split())[:300]
        raise FeatureStoreError(
            f"feature repository {repo}: {CONFIG_FILE} is invalid: {message}"
        ) from None


# Importing Feast (feast/metrics.py) points prometheus_client at a multiprocess directory for
# the whole process through these variables: the service's own metrics are in-process, and
# processes it starts would inherit them. They are put back as they were after the import.
_FEAST_SETS = ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR")


@contextmanager
def _environment_kept() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in _FEAST_SETS}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def offline_store_type(store: Any) -> str:
    """The configured offline store's type (`file`, `bigquery`, ...)."""
    return str(getattr(store.config.offline_store, "type", "file"))


def _date_adapters() -> dict[Any, Any]:
    return {key: adapt for key, adapt in sqlite3.adapters.items() if key[0] in (date, datetime)}


# The process's sqlite3 date adapters before Feast was imported (this module comes first).
_BEFORE_FEAST = _date_adapters()


def _restore_adapters() -> None:
    for key in _date_adapters():
        del sqlite3.adapters[key]
    sqlite3.adapters.update(_BEFORE_FEAST)


# Importing Feast's SQLite online store registers, for the whole process, sqlite3 adapters
# that bind every datetime as epoch seconds: the prediction log (SQLAlchemy on sqlite3, in the
# same process as the API) would then write times it cannot read back. Feast needs them only
# while it writes its online store (materialize); its reads bind no datetimes. So they are
# in force only inside `feast_writes`, and `feast_reads` removes them again after an import.


@contextmanager
def feast_reads() -> Iterator[None]:
    """Around Feast calls that may import its SQLite store but write nothing."""
    try:
        yield
    finally:
        _restore_adapters()


@contextmanager
def feast_writes() -> Iterator[None]:
    """Around Feast calls that write its SQLite online store (apply, materialize)."""
    from feast.infra.online_stores import sqlite as feast_sqlite

    sqlite3.register_adapter(date, feast_sqlite.adapt_date_iso)
    sqlite3.register_adapter(datetime, feast_sqlite.adapt_datetime_epoch)
    try:
        yield
    finally:
        _restore_adapters()
