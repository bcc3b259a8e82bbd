"""The house's rules, read from the code's imports: `shared` in four layers that import only
downwards, services above them all, no import circle, nothing shipped importing `tests`."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LAYERS = {
    "shared.contract": 0,
    "shared.runtime": 1,
    "shared.web": 2,
    "shared.devtools": 3,
}
SERVICES_RANK = 4


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _shipped_modules() -> dict[str, Path]:
    found = {}
    for top in ("shared", "services"):
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


def _imports(path: Path) -> set[str]:
    """Absolute module names `path` imports at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _rank(module: str) -> int | None:
    if module.startswith("services"):
        return SERVICES_RANK
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


MODULES = _shipped_modules()
GRAPH = {
    name: {i for i in _imports(path) if i in MODULES and i != name}
    for name, path in MODULES.items()
}


def test_every_shared_module_sits_in_a_layer() -> None:
    loose = [m for m in MODULES if m.startswith("shared.") and _rank(m) is None]
    assert loose == [], f"modules of shared/ outside contract, runtime, web, devtools: {loose}"


def test_imports_run_only_downwards() -> None:
    upward = []
    for name, targets in GRAPH.items():
        here = _rank(name)
        for target in targets:
            there = _rank(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{name} -> {target}")
    assert upward == [], "imports from a lower layer to a higher one: " + ", ".join(upward)


def test_nothing_shipped_imports_tests() -> None:
    offenders = sorted(
        f"{name} -> {i}"
        for name, path in MODULES.items()
        for i in _imports(path)
        if i == "tests" or i.startswith("tests.")
    )
    assert offenders == []


def test_no_import_circle() -> None:
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for start in sorted(GRAPH):
        if start not in state:
            visit(start, [start])
    # a package's __init__ importing its own modules is not a circle worth the name
    real = [c for c in circles if not all(c[0].startswith(m) or m.startswith(c[0]) for m in c)]
    assert real == [], "import circles: " + "; ".join(" -> ".join(c) for c in real)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_is_a_package_with_a_docstring(layer: str) -> None:
    init = ROOT / layer.replace(".", "/") / "__init__.py"
    assert ast.get_docstring(ast.parse(init.read_text())), f"{init} says what the layer holds"
