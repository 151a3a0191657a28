"""The package's floors (docs/architecture.md): a module imports only its own floor or lower, no two modules import
each other, and no module outgrows one concept."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "semsegdiff"
FLOORS = {  # the first matching prefix decides; lower floors never import higher ones
    0: ("errors", "labels", "limits", "tensors", "quiet", "precision", "attributes", "files", "frame", "safe_load",
        "recipe"),
    1: ("config", "runtime", "figures"),
    2: ("data", "trainer"),
    3: ("shapes", "placement", "masks", "instances"),
    4: ("models",),
    5: ("eval", "enrich"),
    6: ("painter_state", "widgets", "notebooks", "cli_parser", "cli"),
}
MAX_LINES = 450


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def floor(module: str) -> int:
    top = module.split(".")[0]
    if top == "":
        return 0  # the package's own __init__
    return next(f for f, names in FLOORS.items() if top in names)


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``module`` imports (relative or absolute, at the top or inside functions)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = [p for p in package[:len(package) - node.level + 1] if p]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("semsegdiff"):
                target = node.module.removeprefix("semsegdiff").lstrip(".")
            else:
                continue
            for candidate in (target, *(f"{target}.{a.name}".lstrip(".") for a in node.names)):
                if candidate in known and candidate != module:
                    found.add(candidate)
    return found


GRAPH = {m: imports(m, p, modules()) for m, p in modules().items()}


def test_every_module_has_a_floor():
    assert all(isinstance(floor(m), int) for m in GRAPH)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_a_module_imports_nothing_above_its_floor(module):
    higher = {m for m in GRAPH[module] if floor(m) > floor(module) and not module.startswith(m.split(".")[0])}
    assert not higher, f"{module} (floor {floor(module)}) imports {sorted(higher)} from higher floors"


def test_no_import_circles():
    """No cycle among modules, counting a package's __init__ re-exports only where it is itself imported."""
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_modules_stay_small(module):
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by concept (docs/architecture.md)"
