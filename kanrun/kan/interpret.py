"""Interpretability methods mixed into :class:`kanrun.kan.model.KAN`.

(prune, attribute, symbolic fitting, formula export, plot). Each method delegates to its
own module; this class only wires them onto the model.
"""

from __future__ import annotations


class InterpretMixin:
    """Methods that turn a trained KAN into a small network and a formula."""
