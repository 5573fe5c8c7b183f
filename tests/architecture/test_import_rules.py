"""The architecture's import rules (docs/architecture.md), read from the source: every import
statement in src/bankrisk, at module level or inside a function, except those under
`if TYPE_CHECKING:` (which never run)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "bankrisk"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those inside `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(path: Path) -> set[str]:
    """The absolute names of the modules `path` imports at run time."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # `from bankrisk.x import y` may import the module bankrisk.x.y
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def imported_by(prefix: str) -> dict[str, set[str]]:
    return {m: i for m, i in MODULES.items() if m == prefix or m.startswith(prefix + ".")}


def offending(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imported_by(prefix).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


WEB = ("fastapi", "starlette", "uvicorn", "httpx")


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("bankrisk.core", (*WEB, "pandas", "pyarrow", "bankrisk.serving", "bankrisk.portfolio")),
        ("bankrisk.portfolio", ("bankrisk.serving",)),
        ("bankrisk.monitoring", ("bankrisk.serving",)),
        ("bankrisk.prediction_log", ("bankrisk.serving", *WEB)),
        (
            "bankrisk.serving",
            ("bankrisk.training", "bankrisk.evaluation", "bankrisk.portfolio", "bankrisk.cli"),
        ),
    ],
)
def test_imports_point_down(package: str, forbidden: tuple[str, ...]) -> None:
    assert imported_by(package), f"no package {package}"
    assert offending(package, forbidden) == []


def test_no_import_circles_in_src() -> None:
    graph = {
        module: {name for name in names if name in MODULES and name != module}
        for module, names in MODULES.items()
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_rules_see_imports_inside_functions() -> None:
    """The reader is not blind to lazy imports (the CLI imports most of its work lazily)."""
    assert any(
        "bankrisk.serving.server" in names for m, names in imported_by("bankrisk.cli").items()
    )
