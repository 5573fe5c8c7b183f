"""pip-audit of the locked serving dependencies (requirements/serve.txt).

Fails on any known vulnerability that has a fixed version. Needs a vulnerability service: PyPI's
per-release JSON API, else OSV. The test skips ONLY when neither endpoint answers (the reason
names both); once a service answers, any failure of pip-audit, or a dependency it could not
audit, fails the test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVE_TXT = REPO / "requirements" / "serve.txt"
OSV_QUERY = "https://api.osv.dev/v1/query"


def locked_version(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)", SERVE_TXT.read_text(), re.MULTILINE)
    assert match, f"{name} not in {SERVE_TXT}"
    return match.group(1)


def probe(url: str, data: bytes | None = None) -> str | None:
    """None if the endpoint answers 200, else why not."""
    try:
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            response.read(1)
            return None
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return f"{url}: {exc}"


def pick_service() -> tuple[str | None, str]:
    """The vulnerability service pip-audit can use here, or None and why neither answers.

    pip-audit's `pypi` service reads the per-release JSON API (/pypi/NAME/VERSION/json): some
    PyPI mirrors serve the package index but not that API, so it is probed, not assumed."""
    fastapi = locked_version("fastapi")
    pypi_problem = probe(f"https://pypi.org/pypi/fastapi/{fastapi}/json")
    if pypi_problem is None:
        return "pypi", ""
    query = json.dumps(
        {"package": {"name": "fastapi", "ecosystem": "PyPI"}, "version": fastapi}
    ).encode()
    osv_problem = probe(OSV_QUERY, query)
    if osv_problem is None:
        return "osv", ""
    return None, (
        "no vulnerability service reachable from here: PyPI per-release JSON API "
        f"({pypi_problem}) and OSV ({osv_problem})"
    )


def test_serving_dependencies_have_no_fixable_vulnerabilities(tmp_path: Path) -> None:
    service, reason = pick_service()
    if service is None:
        pytest.skip(reason)
    out = tmp_path / "audit.json"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "pip-audit"),
            "--require-hashes",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "--output",
            str(out),
            "--progress-spinner",
            "off",
            "-r",
            str(SERVE_TXT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), f"pip-audit did not run (exit {proc.returncode}):\n{proc.stderr}"
    report = json.loads(out.read_text())
    deps = report["dependencies"]
    assert any(d["name"] == "fastapi" for d in deps), "audit did not cover the serving set"
    fixable = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions'])})"
        for d in deps
        for v in d.get("vulns", [])
        if v.get("fix_versions")
    ]
    assert not fixable, "vulnerable serving dependencies:\n" + "\n".join(fixable)
    skipped = [d for d in deps if "skip_reason" in d and d["name"] != "colorama"]
    assert not skipped, f"pip-audit skipped: {skipped}"
    assert proc.returncode in (0, 1), proc.stderr
