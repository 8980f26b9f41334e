"""Old spellings of config keys that a run still accepts.

The sparsify stage's settings were once a top-level node ``regularization`` (overrides
``regularization.lamb=0.1``); they are now ``pipeline.stages.sparsify.KEY``, like every
other stage's. The config group ``regularization`` stays as the preset selector
(``regularization=strong``); its files set ``pipeline.stages.sparsify``. An old override is
rewritten to the new key before Hydra reads it, and a run folder saved with a
``regularization:`` node (``kanrun resume``) has that node moved where it now lives.
"""

from __future__ import annotations

import copy

OLD_NODE = "regularization"
NEW_NODE = ("pipeline", "stages", "sparsify")
NEW_PREFIX = ".".join(NEW_NODE)


def new_key(key: str) -> str:
    """``regularization.lamb`` -> ``pipeline.stages.sparsify.lamb``; other keys unchanged.

    ``regularization`` alone is the preset group (``regularization=strong``) and stays.
    """
    if key.startswith(OLD_NODE + "."):
        return NEW_PREFIX + key[len(OLD_NODE):]
    return key


def translate_override(word: str) -> str:
    """One command-line override in the new spelling (``+``, ``++``, ``~`` kept, and the
    value, a sweep list included, untouched)."""
    body = word.lstrip("+~")
    sign = word[:len(word) - len(body)]
    key, eq, value = body.partition("=")
    return f"{sign}{new_key(key)}{eq}{value}"


def upgrade(values: dict) -> dict:
    """A config as a plain dict, with an old top-level ``regularization`` mapping merged
    over ``pipeline.stages.sparsify`` (its keys win: they were the run's settings)."""
    old = values.get(OLD_NODE)
    if not isinstance(old, dict):
        return values
    values = copy.deepcopy(values)
    del values[OLD_NODE]
    node = values
    for part in NEW_NODE:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node.update(old)
    return values
