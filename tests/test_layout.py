"""The package's layout keeps its promises: layers, no circles, no private name crossing a module.

The layer order is written once, in README's "How it is built"; this test
reads it there, so the page a newcomer reads and the imports cannot drift
apart.  Everything is read from the source with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "statuses"

THIRD_PARTY_PRIVATE = {
    "_mapping": "SQLAlchemy's Row._mapping: public API despite its underscore (its docs say so)",
}
"""Private-looking names of other libraries that are their public API, and why."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), str(MODULES[module]))


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> Iterator[tuple[int, str, list[str]]]:
    """``(line, imported module, names)`` for each import of a package module, wherever it stands."""
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module).split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            if target in MODULES:
                # `from . import x` names a module too
                submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in MODULES]
                for submodule in submodules:
                    yield node.lineno, submodule, []
                others = [name for name in names if f"{target}.{name}" not in MODULES]
                if others:  # `from . import folder` imports a module, not the package's names
                    yield node.lineno, target, others
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield node.lineno, alias.name, []


def _layers() -> list[list[str]]:
    """README's layers, bottom first: each a list of module names relative to ``statuses``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## How it is built\n", 1)[1].split("\n## ", 1)[0]
    layers = []
    for line in section.splitlines():
        match = re.match(r"\d+\. (.*)", line)
        if match:
            head = match.group(1).split(":", 1)[0]
            layers.append(re.findall(r"`([\w.]+)`", head))
    return layers


LAYERS = _layers()


def _layer_of(module: str) -> int:
    relative = module.removeprefix("statuses").lstrip(".") or "statuses"
    for index, names in enumerate(LAYERS):
        for name in names:
            if relative == name or relative.startswith(name + ".") or (name == "statuses" and module == "statuses"):
                return index
    raise AssertionError(f"README's 'How it is built' puts {module} in no layer; add it to one")


def test_readme_lists_the_layers_and_every_module_is_in_one() -> None:
    assert len(LAYERS) >= 5, LAYERS
    named = [name for layer in LAYERS for name in layer]
    assert len(named) == len(set(named)), f"a module is in two layers: {named}"
    for name in named:
        assert name == "statuses" or f"statuses.{name}" in MODULES, f"README names a layer module {name!r} that " \
                                                                    "does not exist"
    for module in MODULES:
        _layer_of(module)


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = []
    for module in MODULES:
        for line, target, _ in _imports(module):
            if _layer_of(target) > _layer_of(module):
                upward.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {module} (layer {_layer_of(module) + 1}) "
                              f"imports {target} (layer {_layer_of(target) + 1})")
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle() -> None:
    graph = {module: {target for _, target, _ in _imports(module) if target != module} for module in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def _private(name: str) -> bool:
    """A leading underscore, and neither a dunder (``__init__``) nor an enum's sunder (``_value_``)."""
    return name.startswith("_") and not name.startswith("__") and not (name.endswith("_") and len(name) > 2)


def _defined_private(module: str) -> set[str]:
    """The private names ``module`` defines: functions, classes, assignments, attributes it sets, fields."""
    found = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            found.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
    return {name for name in found if _private(name)}


def _private_uses(module: str) -> Iterator[tuple[int, str]]:
    """Private names ``module`` imports from the package, or reads off an object other than ``self``/``cls``."""
    for line, target, names in _imports(module):
        for name in names:
            if _private(name):
                yield line, f"imports {name} from {target}"
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                yield node.lineno, f"self.{node.attr}"  # its own: unless only another module defines the name
                continue
            yield node.lineno, node.attr


def test_no_private_name_crosses_a_module() -> None:
    defined = {module: _defined_private(module) for module in MODULES}
    crossing = []
    for module in MODULES:
        for line, use in _private_uses(module):
            if use.startswith("self."):
                name = use.removeprefix("self.")
                if name not in defined[module] and any(name in names for names in defined.values()):
                    crossing.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {use}, which another module defines")
                continue
            if use.startswith("imports ") or (use not in defined[module] and use not in THIRD_PARTY_PRIVATE):
                crossing.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {use}")
            elif use not in THIRD_PARTY_PRIVATE and any(use in names for other, names in defined.items()
                                                          if other != module):
                # Defined here and elsewhere too: the reader cannot tell whose it is; rename one.
                crossing.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {use} (also defined in another module)")
    assert not crossing, "\n".join(crossing)


def _plant(monkeypatch: pytest.MonkeyPatch, module: str, planted: str) -> None:
    """Make the checks read ``module`` with ``planted`` appended to its source, for this test only."""
    source = MODULES[module].read_text(encoding="utf-8") + "\n" + planted
    monkeypatch.setitem(globals(), "_tree", lambda name, _tree=_tree: (
        ast.parse(source) if name == module else _tree(name)))


@pytest.mark.parametrize("planted", [
    "from .folder import _attach\n",
    "def f(folder):\n    return folder._in_progress\n",
    "class Sub(Folder):\n    def f(self):\n        return self._in_progress\n",
])
def test_the_private_name_check_catches_a_plant(planted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _plant(monkeypatch, "statuses.payloads", planted)
    with pytest.raises(AssertionError, match=r"payloads\.py"):
        test_no_private_name_crosses_a_module()


def test_the_layer_check_catches_an_upward_import(monkeypatch: pytest.MonkeyPatch) -> None:
    _plant(monkeypatch, "statuses.analysis", "from .folder import Folder\n")
    with pytest.raises(AssertionError, match=r"statuses.analysis .* imports statuses.folder"):
        test_no_module_imports_from_a_higher_layer()
    with pytest.raises(AssertionError, match=r"import cycle"):
        test_the_import_graph_has_no_cycle()


def test_the_cycle_check_catches_a_module_importing_its_own_package(monkeypatch: pytest.MonkeyPatch) -> None:
    _plant(monkeypatch, "statuses.store.rows", "from statuses.store import Store\n")
    with pytest.raises(AssertionError, match=r"import cycle: .*statuses.store.rows"):
        test_the_import_graph_has_no_cycle()
