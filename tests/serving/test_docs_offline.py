"""/docs renders in a real browser with no internet: Swagger UI is served by the API itself.

Headless Chromium loads /docs of a real server on 127.0.0.1 with every other host name made
unresolvable, and the rendered page must list the scoring operations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers.api import Api
from helpers.processes import served
from helpers.system_deps import install_system_deps


def chromium() -> str:
    """The chromium binary; installed with `make system-deps` (as the container test does)
    when missing and root, else the test is skipped saying why."""
    found = shutil.which("chromium")
    if found is None:
        install_system_deps()
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (`make -f deploy/delivery.mk system-deps`)")
    return found


@pytest.fixture(scope="module")
def base_url(bundle_dir: Path) -> Iterator[str]:
    with served(bundle_dir) as url:
        yield url


def browse(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `url`, offline: every host name but 127.0.0.1 fails to resolve."""
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_docs_page_loads_nothing_from_other_hosts(base_url: str) -> None:
    page = httpx.get(f"{base_url}/docs", timeout=10).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page) + re.findall(
        r"""url: ?["']([^"']+)["']""", page
    )
    assert assets, page
    assert all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert httpx.get(f"{base_url}{asset}", timeout=10).status_code == 200, asset


def test_swagger_ui_renders_the_operations_offline(base_url: str, tmp_path: Path) -> None:
    done = browse(f"{base_url}/docs", tmp_path, "--dump-dom")

    dom = done.stdout
    assert 'class="swagger-ui"' in dom, done.stderr[-2000:]
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/model", "/health"):
        assert f'data-path="{path}"' in dom, f"{path} not rendered"
    assert "Bank default-risk API" in dom


def test_redoc_renders_offline(base_url: str, tmp_path: Path) -> None:
    done = browse(f"{base_url}/redoc", tmp_path, "--dump-dom")

    assert "Score one customer" in done.stdout, done.stderr[-2000:]


def test_docs_assets_are_one_metrics_route(api: Api) -> None:
    """Asset requests are labelled by the mount, not by each path asked for."""
    assert api.client.get("/docs-assets/swagger-ui.css").status_code == 200
    assert api.client.get("/docs-assets/no-such-file-1.js").status_code == 404
    assert api.client.get("/docs-assets/no-such-file-2.js").status_code == 404
    routes = {
        dict(labels)["route"]
        for name, labels in api.metrics()
        if name == "bankrisk_http_requests_total"
    }
    assert routes == {"/docs-assets"}
