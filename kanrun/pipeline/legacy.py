"""Old spellings of config keys that a run still accepts.

Two stages' settings were once top-level nodes: ``regularization`` (the sparsify stage,
overrides ``regularization.lamb=0.1``) and ``grid`` (the grid_extend stage,
``grid.grids=[10,20]``). They are now ``pipeline.stages.sparsify.KEY`` and
``pipeline.stages.grid_extend.KEY``, like every other stage's. The config groups
``regularization`` and ``grid`` stay as preset selectors (``regularization=strong``,
``grid=paper``); their files set the stage's node. An old override is rewritten to the new
key before Hydra reads it, and a run folder saved with a ``regularization:`` or ``grid:``
node (``kanrun resume``) has that node moved where it now lives. Only a leading
``grid.`` is old: ``model.grid`` (the initial number of intervals) is its own key.
"""

from __future__ import annotations

import copy

MOVED = {
    "regularization": ("pipeline", "stages", "sparsify"),
    "grid": ("pipeline", "stages", "grid_extend"),
}


def new_key(key: str) -> str:
    """``regularization.lamb`` -> ``pipeline.stages.sparsify.lamb``, ``grid.grids`` ->
    ``pipeline.stages.grid_extend.grids``; other keys unchanged.

    ``regularization`` or ``grid`` alone is the preset group (``grid=paper``) and stays.
    """
    for old, new in MOVED.items():
        if key.startswith(old + "."):
            return ".".join(new) + key[len(old):]
    return key


def translate_override(word: str) -> str:
    """One command-line override in the new spelling (``+``, ``++``, ``~`` kept, and the
    value, a sweep list included, untouched)."""
    body = word.lstrip("+~")
    sign = word[:len(word) - len(body)]
    key, eq, value = body.partition("=")
    return f"{sign}{new_key(key)}{eq}{value}"


def upgrade(values: dict) -> dict:
    """A config as a plain dict, with each old top-level mapping (``regularization``,
    ``grid``) merged over the stage's node (its keys win: they were the run's settings)."""
    if not any(isinstance(values.get(old), dict) for old in MOVED):
        return values
    values = copy.deepcopy(values)
    for old, path in MOVED.items():
        moved = values.get(old)
        if not isinstance(moved, dict):
            continue
        del values[old]
        node = values
        for part in path:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node.update(moved)
    return values
