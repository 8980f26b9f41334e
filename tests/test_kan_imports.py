"""kanrun.kan's import graph: no cycles, no imports of kanrun modules hidden in functions.

Read from the source with ``ast`` (nothing is executed), then every module is imported.
"""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import kanrun
from kanrun.kan import KAN, attribution
from kanrun.kan import prune as pruning

ROOT = Path(kanrun.__file__).parent
KAN_DIR = ROOT / "kan"

# function-local imports of kanrun modules allowed in kanrun/kan: none
KNOWN_LOCAL: set = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = ROOT.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def targets(node, current: str, is_package: bool) -> list[str]:
    """The kanrun modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "kanrun"]
    package = current if is_package else current.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    base = node.module or ""
    if node.level:
        base = f"{package}.{base}" if base else package
    if base.split(".")[0] != "kanrun":
        return []
    found = [f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")]
    return found or [base]


def scan():
    edges, local = {}, set()
    for path in sorted(KAN_DIR.rglob("*.py")):
        name = module_name(path)
        tree = ast.parse(path.read_text())
        is_package = path.name == "__init__.py"
        edges[name] = set()
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                edges[name].update(targets(stmt, name, is_package))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        local.update((name, t) for t in targets(inner, name, is_package))
    return edges, local


def find_cycle(edges):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_library_imports_form_no_cycle():
    edges, local = scan()
    for a, b in local:  # an import inside a function still closes a cycle
        edges[a].add(b)
    assert "kanrun.kan.model" in edges and "kanrun.kan.spec" in edges["kanrun.kan.network"]
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_kanrun_import_is_hidden_in_a_function():
    _, local = scan()
    assert local - KNOWN_LOCAL == set()


def test_the_library_imports_neither_the_datasets_nor_the_runner():
    edges, _ = scan()
    upward = {(a, b) for a, targets_ in edges.items() for b in targets_
              if not b.startswith(("kanrun.kan", "kanrun.common"))}
    assert upward == set()


@pytest.mark.parametrize("name", sorted(module_name(p) for p in KAN_DIR.rglob("*.py")))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_kan_methods_take_the_wrapped_functions_argument_names():
    """Beyond pykan's positional arguments, a method's arguments are keyword-only and are
    named as in the plain function it wraps."""
    pairs = [("prune", pruning.prune), ("prune_node", pruning.prune_node),
             ("prune_edge", pruning.prune_edge), ("prune_input", pruning.prune_input),
             ("activation_scales", attribution.activation_scales)]
    for method, function in pairs:
        ours = inspect.signature(getattr(KAN, method)).parameters
        theirs = inspect.signature(function).parameters
        assert set(ours) - {"self"} <= set(theirs), method
        assert all(p.kind is p.KEYWORD_ONLY for name, p in theirs.items()
                   if name not in ("model", "x")), function.__name__
