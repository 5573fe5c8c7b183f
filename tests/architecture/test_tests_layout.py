"""The tests' own shape: folders mirror the packages, helpers live in one package, and
fixtures only in conftest files."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src" / "bankrisk"
# Folders that are not a package's tests: what the tests share, recorded answers, the
# architecture's rules, the delivery (image, CI, make) and operations (Prometheus, Grafana,
# Cloud Monitoring) checks, and the trained model's behaviour.
NOT_PACKAGES = {"helpers", "golden", "architecture", "delivery", "operations", "model"}


def folders() -> set[str]:
    return {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


def imported_top_levels(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_every_test_folder_is_a_package_s_or_says_what_it_is() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert folders() - NOT_PACKAGES <= packages, sorted(folders() - NOT_PACKAGES - packages)


def test_only_helpers_is_imported_from_the_tests() -> None:
    """No test folder is imported as a package (`serving.support` would read as the
    service's own package), and nothing imports a conftest."""
    shadowing = (folders() - {"helpers"}) | {"conftest"}
    bad = sorted(
        f"{path.relative_to(TESTS)} imports {name}"
        for path in TESTS.rglob("*.py")
        for name in imported_top_levels(path) & shadowing
    )
    assert bad == []


def test_helpers_define_no_fixtures() -> None:
    bad = [
        path.name
        for path in (TESTS / "helpers").glob("*.py")
        if "pytest.fixture" in path.read_text()
    ]
    assert bad == []
