"""The package's layers import only downwards: cli -> figures, report -> pipeline ->
discover -> kan, data -> common (kan and data never import each other)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kanrun"
RANK = {"common": 0, "kan": 1, "data": 1, "discover": 2, "pipeline": 3, "figures": 4,
        "report": 4, "cli": 5}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_no_module_imports_its_own_layer_or_one_above():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        layer = path.relative_to(PACKAGE).parts[0]
        if layer not in RANK:
            continue
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "kanrun" or len(parts) < 2 or parts[1] not in RANK:
                continue
            if parts[1] != layer and RANK[parts[1]] >= RANK[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []
    assert len(list(PACKAGE.rglob("*.py"))) > 50  # the scan saw the package
