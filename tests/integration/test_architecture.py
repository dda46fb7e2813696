"""The package's shape, checked: layers without circles or upward imports, tests that mirror the
package, and docs/architecture.md naming every module.

Imports are read from the source (``ast``), so lazy imports inside functions and ``TYPE_CHECKING``
imports count like any other: a circle hidden in a function is still a circle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dasag"

#: The layers, bottom first: a module may import its own layer and the ones below, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("dasag.core",)),
    ("image", ("dasag.image",)),
    ("scorers", ("dasag.scorers",)),
    ("objective", ("dasag.objective",)),
    ("run", ("dasag.run",)),
    ("features", ("dasag.animation", "dasag.growth", "dasag.batch", "dasag.personalize")),
    ("measurement", ("dasag.quality", "dasag.speed")),
    ("commands", ("dasag.commands", "dasag.app", "dasag.__main__")),
    ("api", ("dasag",)),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def placed_in(module: str) -> int | None:
    """The index of the layer that holds ``module`` (the longest matching prefix decides; the
    package itself, ``dasag``, holds only its ``__init__``, so a new module is never placed by it)."""
    best, length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            under = module.startswith(prefix + ".") and prefix != "dasag"
            if (module == prefix or under) and len(prefix) > length:
                best, length = index, len(prefix)
    return best


def layer_of(module: str) -> int:
    best = placed_in(module)
    assert best is not None, f"{module} is in no layer: add it to LAYERS and to docs/architecture.md"
    return best


def imported_modules(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every dasag module ``module`` imports, anywhere in its source (functions and TYPE_CHECKING included)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dasag":
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "dasag":
                continue
            for alias in node.names:
                full = f"{name}.{alias.name}"
                add(full if full in known else name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imported_modules(m, p, known) for m, p in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer():
    found = modules()
    assert len(found) > 50 and "dasag.core.ranges" in found  # the walk sees the package
    assert [m for m in found if placed_in(m) is None] == []
    assert placed_in("dasag.somewhere_new") is None  # a module outside every layer's folders is not placed


def test_no_import_circles_even_through_functions_or_type_checking():
    assert circles(import_graph()) == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) -> {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in import_graph().items() for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert upward == []


def test_the_bottom_layer_imports_nothing_else_of_dasag():
    outside = {m: sorted(t for t in targets if layer_of(t) != 0) for m, targets in import_graph().items() if layer_of(m) == 0}
    assert {m: t for m, t in outside.items() if t} == {}


def test_the_circle_finder_finds_a_circle():
    """The check above could fail: two modules importing each other are a circle."""
    assert circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


@pytest.mark.parametrize("module", sorted(modules()))
def test_every_module_is_named_in_the_architecture_document(module):
    text = (ROOT / "docs" / "architecture.md").read_text()
    path = modules()[module].relative_to(ROOT).as_posix()
    assert f"`{path}`" in text or (path.endswith("__init__.py") and f"`{Path(path).parent.as_posix()}/`" in text), \
        f"docs/architecture.md does not name {path}"


# ------------------------------------------------------------------ tests mirror the package
TESTS = ROOT / "tests"
#: Package folders whose ``__init__.py`` only names what the package holds: nothing of their own to test.
DOCSTRING_ONLY_INITS = True


def mirrored_test(module_path: Path) -> Path:
    """The test file of a module: the same path under tests/, ``test_`` before its name (``__init__`` -> ``test_init``)."""
    relative = module_path.relative_to(PACKAGE)
    name = "init" if relative.stem == "__init__" else "main" if relative.stem == "__main__" else relative.stem
    return TESTS / relative.parent / f"test_{name}.py"


def has_own_code(path: Path) -> bool:
    """A package ``__init__.py`` with functions or classes (the public API, the command table), not only a docstring and re-exports."""
    return any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Assign)) for n in ast.parse(path.read_text()).body)


def test_every_module_has_its_test_file_at_the_same_path():
    missing = [str(mirrored_test(p).relative_to(ROOT)) for p in modules().values()
               if (p.name != "__init__.py" or has_own_code(p)) and not mirrored_test(p).is_file()]
    assert missing == []


def test_every_unit_test_file_mirrors_a_module_and_integration_tests_live_apart():
    expected = {mirrored_test(p) for p in modules().values()}
    strays = [str(p.relative_to(ROOT)) for p in TESTS.rglob("test_*.py") if "integration" not in p.parts and p not in expected]
    assert strays == []


def dasag_private_names() -> set[str]:
    """Every private attribute or method name dasag's own classes define (``self._x = ...``, ``def _x``)."""
    names: set[str] = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr.startswith("_") and not node.attr.startswith("__"):
                names.add(node.attr)
            if isinstance(node, ast.ClassDef):
                names |= {n.name for n in node.body if isinstance(n, ast.FunctionDef) and n.name.startswith("_") and not n.name.startswith("__")}
    return names


def test_no_test_reads_a_private_attribute_of_a_dasag_object_or_loads_a_module_by_path():
    """Tests use what the package offers (no ``x._name`` of a name dasag defines), and import modules
    (no ``spec_from_file_location``, no ``run_path``)."""
    private = dasag_private_names()
    found = []
    for path in TESTS.rglob("*.py"):
        if path == Path(__file__):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in private:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.Attribute) and node.attr in ("spec_from_file_location", "run_path"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: loads a file by path")
    assert found == []


def test_every_test_file_the_docs_name_exists():
    """Docs point readers at the test that checks a claim; after a move that pointer must still lead somewhere."""
    named = {(doc.relative_to(ROOT).as_posix(), m) for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
             for m in re.findall(r"tests/[A-Za-z0-9_/]+\.py", doc.read_text())}
    assert named, "the docs name no test file at all: the pattern is wrong"
    assert sorted((doc, path) for doc, path in named if not (ROOT / path).is_file()) == []
