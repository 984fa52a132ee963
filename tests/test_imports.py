"""The import graph of ``sbidic`` has no circles across folders, nor inside population/.

Every module is parsed with :mod:`ast`; every ``import`` statement counts, at module
level or inside a function (``if TYPE_CHECKING:`` blocks too). ``import a.b`` and
``from a import b`` make an edge to the file of the most specific module named
(``a/b.py`` where ``b`` is a module, ``a/__init__.py`` where it is a name defined
there); relative imports are resolved against the importing file's package. Parent
packages, executed by Python on the way, are not edges: otherwise every file would
sit in a circle with ``sbidic/__init__.py``.

The layering, low to high: models/spikes -> dics -> simulate -> fidelity ->
population -> datasets -> inference -> app/cli. A lower layer never reaches up, so
no circle crosses a folder.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sbidic"
ROOT = PACKAGE.parent


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``package``.

    Parameters
    ----------
    package : Path
        The package folder (holding ``__init__.py``).

    Returns
    -------
    dict of str to Path
        ``"sbidic.fidelity"`` -> ``sbidic/fidelity/__init__.py``,
        ``"sbidic.fidelity.atlas"`` -> ``sbidic/fidelity/atlas.py``, ...
    """
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _package_of(module: str, path: Path) -> str:
    """The package a module's relative imports resolve against."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve_from(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The absolute module named by a ``from ... import`` statement."""
    if node.level == 0:
        return node.module or ""
    base = _package_of(module, path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _closest(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package, if any."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imported_modules(module: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its file.

    Parameters
    ----------
    module : str
        Dotted name of the importing module.
    modules : dict of str to Path
        All modules of the package (:func:`module_files`).

    Returns
    -------
    set of str
        Names of the imported modules, ``module`` itself excluded.
    """
    path = modules[module]
    named = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            named += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_from(node, module, path)
            named += [f"{source}.{alias.name}" for alias in node.names]
    found = {_closest(name, modules) for name in named}
    return found - {None, module}


def import_graph(package: Path = PACKAGE) -> dict[Path, set[Path]]:
    """File -> the package's files it imports.

    Parameters
    ----------
    package : Path
        The package folder.

    Returns
    -------
    dict of Path to set of Path
        Paths relative to the repository root.
    """
    modules = module_files(package)
    rel = {name: path.relative_to(package.parent) for name, path in modules.items()}
    return {rel[name]: {rel[m] for m in imported_modules(name, modules)} for name in modules}


def strongly_connected(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """The circles of ``graph``: its strongly connected components of two files or more.

    Tarjan's algorithm, iterative.

    Parameters
    ----------
    graph : dict of Path to set of Path
        File -> the files it imports.

    Returns
    -------
    list of list of Path
        Each component's files, sorted.
    """
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on_stack: set[Path] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _describe(components: list[list[Path]]) -> str:
    return "\n".join(" <-> ".join(map(str, files)) for files in components)


def private_imports(package: Path = PACKAGE) -> list[str]:
    """``from X import _name`` statements whose ``X`` lies in another folder.

    Parameters
    ----------
    package : Path
        The package folder.

    Returns
    -------
    list of str
        ``"importing file: module._name"``, one per such import (dunders allowed).
    """
    modules = module_files(package)
    found = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _resolve_from(node, module, path)
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                owner = _closest(f"{source}.{alias.name}", modules)
                if private and owner is not None and modules[owner].parent != path.parent:
                    found.append(f"{path.relative_to(package.parent)}: {owner}.{alias.name}")
    return found


def test_graph_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from pkg.sub import high\n")
    (pkg / "sub" / "__init__.py").write_text("from . import high\n")
    (pkg / "sub" / "high.py").write_text("from ..low import f\nfrom .other import g\n")
    (pkg / "sub" / "other.py").write_text("g = 1\n")
    graph = import_graph(pkg)
    assert graph[Path("pkg/low.py")] == {Path("pkg/sub/high.py")}
    assert graph[Path("pkg/sub/__init__.py")] == {Path("pkg/sub/high.py")}
    assert graph[Path("pkg/sub/high.py")] == {Path("pkg/low.py"), Path("pkg/sub/other.py")}
    assert strongly_connected(graph) == [[Path("pkg/low.py"), Path("pkg/sub/high.py")]]


def test_no_circle_across_folders():
    crossing = [
        files
        for files in strongly_connected(import_graph())
        if len({path.parent for path in files}) > 1
    ]
    assert not crossing, f"import circles across folders:\n{_describe(crossing)}"


@pytest.mark.parametrize("folder", ["population", "inference"])
def test_no_circle_inside(folder):
    graph = import_graph()
    inside = Path("sbidic") / folder
    sub = {f: {g for g in graph[f] if g.parent == inside} for f in graph if f.parent == inside}
    circles = strongly_connected(sub)
    assert not circles, f"import circles inside {inside}:\n{_describe(circles)}"


def test_no_private_name_crosses_folders():
    crossing = private_imports()
    assert not crossing, "private names imported from another folder:\n" + "\n".join(crossing)
