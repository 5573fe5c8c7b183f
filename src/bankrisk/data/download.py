"""Fetch the official UCI data set 350 ("default of credit card clients") once, and check it.

The zip from the UCI repository holds `default of credit card clients.xls` (30,000 rows in the
two-header UCI layout). It is extracted to `<data_dir>/default_of_credit_card_clients.xls`,
checked with `load_dataset` (row count, the 23 fields and the target) and a sidecar
`<file>.sha256` is written. A file that is already there and passes the check is returned
without touching the network.

The URL is a setting (`BANKRISK_DATA_URL`, for a mirror; the tests serve a small zip on
127.0.0.1). Connection failures (no network, unresolvable host, refused connection) fail at once
with a `DownloadError` that points to a local copy (`--data PATH`, or `make run DATA=PATH`); only
transient errors (read time-outs, dropped connections, HTTP 408/429/5xx) are retried, with
exponential back-off. A failed download leaves nothing behind, not even the folder it created.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import zipfile
from pathlib import Path, PurePosixPath

import httpx

from bankrisk.config import Settings
from bankrisk.data.load import file_fingerprint, load_dataset
from bankrisk.errors import DataError, DownloadError
from bankrisk.schema import FIELD_NAMES, TARGET

logger = logging.getLogger(__name__)

UCI_URL: str = Settings.model_fields["data_url"].default
UCI_MEMBER = "default of credit card clients.xls"
UCI_ROWS = 30_000
DEFAULT_FILENAME = "default_of_credit_card_clients.xls"

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CHUNK_BYTES = 1 << 16


def default_data_path(data_dir: Path) -> Path:
    """Where `download_uci` puts the official .xls inside `data_dir`."""
    return Path(data_dir) / DEFAULT_FILENAME


def _dest_name(member: str) -> str:
    if member == UCI_MEMBER:
        return DEFAULT_FILENAME
    return PurePosixPath(member).name.replace(" ", "_")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _offline_error(reason: str) -> DownloadError:
    return DownloadError(
        f"Could not download the UCI data set ({reason}). Offline? Pass a local copy with "
        "--data PATH, or with make: make run DATA=PATH."
    )


def _check_file(path: Path, expected_rows: int) -> None:
    """Raise `DataError` unless the file loads with the expected rows, fields and target."""
    frame = load_dataset(path)
    missing = [c for c in (*FIELD_NAMES, TARGET) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {', '.join(missing)}")
    if len(frame) != expected_rows:
        raise DataError(f"{path}: {len(frame)} rows, expected {expected_rows}")


def _existing_ok(path: Path, expected_rows: int) -> bool:
    """True if a previously downloaded file is intact (sidecar digest matches) and loads."""
    if not path.is_file():
        return False
    sidecar = _sidecar(path)
    digest = file_fingerprint(path)
    if sidecar.is_file():
        recorded = sidecar.read_text(encoding="utf-8").split()
        if not recorded or recorded[0] != digest:
            logger.warning("checksum of %s does not match %s; downloading again", path, sidecar)
            return False
    try:
        _check_file(path, expected_rows)
    except DataError as exc:
        logger.warning("existing %s is not usable (%s); downloading again", path, exc)
        return False
    if not sidecar.is_file():
        sidecar.write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return True


def _fetch(
    url: str,
    target: Path,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    transport: httpx.BaseTransport | None,
) -> None:
    """Stream `url` into `target`, retrying transient failures up to `retries` times."""
    attempts = max(0, retries) + 1
    with httpx.Client(timeout=timeout, follow_redirects=True, transport=transport) as client:
        for attempt in range(1, attempts + 1):
            reason: str
            try:
                with client.stream("GET", url) as response:
                    if response.status_code == 200:
                        with target.open("wb") as handle:
                            for chunk in response.iter_bytes(_CHUNK_BYTES):
                                handle.write(chunk)
                        return
                    reason = f"HTTP {response.status_code} from {url}"
                    if response.status_code not in _RETRY_STATUS:
                        raise _offline_error(reason)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
                # No network, unknown host or refused connection: retrying will not help.
                raise _offline_error(f"cannot connect to {url}: {exc}") from exc
            except httpx.TransportError as exc:  # read timeouts, dropped connections
                reason = f"{type(exc).__name__} from {url}: {exc}"
            except OSError as exc:
                raise DownloadError(f"Could not write {target}: {exc}") from exc
            if attempt == attempts:
                raise _offline_error(f"{reason}; gave up after {attempts} attempts")
            delay = backoff * 2 ** (attempt - 1)
            logger.warning(
                "download attempt %d failed (%s); retrying in %.1fs", attempt, reason, delay
            )
            time.sleep(delay)


def _extract(archive: Path, member: str, target: Path) -> None:
    """Copy `member` (matched by full name or base name) out of the zip to `target`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            match = next((n for n in names if n == member), None)
            if match is None:
                match = next((n for n in names if PurePosixPath(n).name == member), None)
            if match is None:
                raise DownloadError(
                    f"The downloaded zip does not contain {member!r} (it has: {', '.join(names)})"
                )
            with zf.open(match) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"The downloaded file is not a valid zip archive ({exc})") from exc


def download_uci(
    dest_dir: Path,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    url: str = UCI_URL,
    member: str = UCI_MEMBER,
    expected_rows: int = UCI_ROWS,
    backoff: float = 1.0,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """Download, extract and check the UCI data set; return the path of the data file.

    `url`, `member` (name of the file inside the zip, any format `load_dataset` reads),
    `expected_rows`, `backoff` (seconds before the first retry, doubling) and `transport`
    exist for tests and mirrors; the defaults fetch the official 30,000-row .xls.
    """
    dest_dir = Path(dest_dir)
    dest = dest_dir / _dest_name(member)
    if _existing_ok(dest, expected_rows):
        logger.info("using existing %s", dest)
        return dest
    # The folders this call creates, deepest first: removed again if the download fails.
    created = [d for d in (dest_dir, *dest_dir.parents) if not d.exists()]
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create {dest_dir}: {exc}") from exc

    archive = dest_dir / f".{dest.name}.zip.part"
    staged = dest_dir / f".{dest.stem}.part{dest.suffix}"
    done = False
    try:
        _fetch(url, archive, timeout=timeout, retries=retries, backoff=backoff, transport=transport)
        _extract(archive, member, staged)
        try:
            _check_file(staged, expected_rows)
        except DataError as exc:
            raise DownloadError(f"The downloaded UCI data set is not as expected: {exc}") from exc
        os.replace(staged, dest)
        done = True
    finally:
        for leftover in (archive, staged):
            leftover.unlink(missing_ok=True)
        if not done:
            for folder in created:
                try:
                    folder.rmdir()  # only if still empty
                except OSError:
                    break
    _sidecar(dest).write_text(f"{file_fingerprint(dest)}  {dest.name}\n", encoding="utf-8")
    logger.info("downloaded %s", dest)
    return dest
