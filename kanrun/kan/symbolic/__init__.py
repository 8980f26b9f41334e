"""Symbolic functions, fitting and formula export.

* :mod:`.library` - the function registry (:func:`register_function` for your own);
* :mod:`.affine` - the vectorized fit y ~ c f(a x + b) + d;
* :mod:`.auto` - suggest / fix / auto_symbolic and the per-edge report;
* :mod:`.export` - sympy formulas, text / LaTeX / JSON, numeric checks;
* :mod:`.search` - from a fitted model to a Pareto front of formulas
  (:func:`formula_from_model`): :mod:`.candidates` per edge, joint :mod:`.refit`,
  exact constants (:mod:`.snap`), :mod:`.simplify`, :mod:`.pareto`.

The model methods (``model.auto_symbolic(...)``, ``model.symbolic_formula(...)``) wrap these.
"""

from .library import (
    SymbolicFunction,
    SymbolicLibraryError,
    UnknownFunctionError,
    default_library,
    function_names,
    get_function,
    register_function,
    unregister_function,
)

_LAZY = {
    "fit_affine": "affine", "polish_affine": "affine", "AffineFit": "affine",
    "suggest_symbolic": "auto", "fix_symbolic": "auto", "unfix_symbolic": "auto",
    "auto_symbolic": "auto", "symbolic_report": "auto", "SymbolicFitError": "auto",
    "symbolic_formula": "export", "formula_text": "export", "formula_latex": "export",
    "formula_json": "export", "formula_from_json": "export", "formula_rmse": "export",
    "evaluate_formula": "export", "FormulaError": "export",
    "formula_from_model": "search", "FormulaSearch": "search", "ParetoFront": "pareto",
    "FormulaCandidate": "pareto", "edge_candidates": "candidates", "Candidate": "candidates",
    "snap_constants": "snap", "simple_values": "snap",
}


def __getattr__(name):  # the fitting and export modules load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SymbolicFunction", "SymbolicLibraryError", "UnknownFunctionError", "default_library",
    "function_names", "get_function", "register_function", "unregister_function", *_LAZY,
]
