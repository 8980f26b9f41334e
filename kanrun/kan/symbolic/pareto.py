"""The Pareto front of candidate formulas and the choice among them.

Every formula the search produced is kept with its complexity (nodes of the expression
tree; a free decimal constant costs one more than an exact one), its errors and the
seconds spent so far. :meth:`ParetoFront.best` follows PySR's spirit: among the formulas
whose held-out error is within ``tolerance`` of the best one, the simplest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy


def complexity(expr) -> int:
    """Nodes of the expression tree; every Float counts twice (a fitted decimal)."""
    n = 0
    for node in sympy.preorder_traversal(expr):
        n += 2 if isinstance(node, sympy.Float) else 1
    return n


@dataclass
class FormulaCandidate:
    expr: sympy.Expr
    complexity: int
    train_rmse: float
    val_rmse: float
    seconds: float
    source: str  # which step produced it (beam, snap, simplify, ...)
    test_rmse: float | None = None
    functions: dict = field(default_factory=dict)  # edge -> function name

    def row(self) -> dict:
        return {"complexity": self.complexity, "train_rmse": self.train_rmse,
                "val_rmse": self.val_rmse, "test_rmse": self.test_rmse,
                "seconds": round(self.seconds, 3), "source": self.source,
                "expr": sympy.sstr(self.expr)}


@dataclass
class ParetoFront:
    """All candidate formulas, the reference (network) error and the chosen one."""

    candidates: list = field(default_factory=list)
    network_rmse: float | None = None
    tolerance: float = 0.5  # relative: within (1 + tolerance) x best
    abs_tolerance: float = 1e-12  # times the target's spread
    y_scale: float = 1.0
    notes: list = field(default_factory=list)
    variables: list = field(default_factory=list)

    def add(self, cand: FormulaCandidate) -> None:
        if math.isfinite(cand.val_rmse):
            self.candidates.append(cand)

    def front(self) -> list:
        """The non-dominated candidates, simplest first (one per complexity)."""
        out, best_err = [], math.inf
        for c in sorted(self.candidates, key=lambda c: (c.complexity, c.val_rmse)):
            if c.val_rmse < best_err:
                out.append(c)
                best_err = c.val_rmse
        return out

    def best(self) -> FormulaCandidate | None:
        front = self.front()
        if not front:
            return None
        lowest = min(c.val_rmse for c in front)
        limit = max(lowest * (1 + self.tolerance), lowest + self.abs_tolerance * self.y_scale)
        return min((c for c in front if c.val_rmse <= limit),
                   key=lambda c: (c.complexity, c.val_rmse))

    def status(self, factor: float = 2.0) -> str:
        """``"accurate"`` when the chosen formula is within ``factor`` of the network's
        error (or no network error is known), ``"approximate"`` otherwise, ``"none"``
        without a formula."""
        best = self.best()
        if best is None:
            return "none"
        if self.network_rmse is None or not math.isfinite(self.network_rmse):
            return "accurate"
        err = best.test_rmse if best.test_rmse is not None else best.val_rmse
        floor = self.abs_tolerance * self.y_scale
        return "accurate" if err <= factor * self.network_rmse + floor else "approximate"

    def rows(self) -> list[dict]:
        chosen = self.best()
        on_front = {id(c) for c in self.front()}
        return [{**c.row(), "pareto": id(c) in on_front, "chosen": c is chosen}
                for c in sorted(self.candidates, key=lambda c: (c.complexity, c.val_rmse))]


__all__ = ["FormulaCandidate", "ParetoFront", "complexity"]
