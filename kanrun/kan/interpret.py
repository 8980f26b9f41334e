"""Interpretability methods mixed into :class:`kanrun.kan.model.KAN`.

(prune, attribute, symbolic fitting, formula export, plot). Each method delegates to its
own module; this class only wires them onto the model.

Methods that measure activations take sample inputs ``x``. An explicit ``x`` is also
remembered on the model (not saved in checkpoints, carried to pruned copies), so a
pykan-style ``model.attribute(x)`` followed by ``model.prune()`` works.
"""

from __future__ import annotations


class InterpretMixin:
    """Methods that turn a trained KAN into a small network and a formula."""

    def _inputs(self, x):
        from .attribution import resolve_inputs

        if x is not None:
            x = resolve_inputs(self, x)
            self._interp_x = x
        return resolve_inputs(self, x)

    # ------------------------------------------------------------ attribution
    def attribute(self, x=None, l: int | None = None, i: int | None = None, out_score=None):
        """Attribution scores (an :class:`~kanrun.kan.attribution.Attribution`).

        With ``l`` (and ``i``): scores of the inputs for the nodes of layer ``l`` (for node
        ``i``), shape (width_in[l], n_inputs) (or (n_inputs,)), as pykan's ``attribute(l, i)``.
        """
        from .attribution import attribute

        scores = attribute(self, self._inputs(x), out_score=out_score, layer=l)
        if l is None:
            return scores
        inputs = scores.node_scores_all[0]
        return inputs if i is None else inputs[i]

    def feature_score(self, x=None):
        """Input importance: the attribution scores of the input nodes."""
        return self.attribute(x).node_scores[0]

    def activation_scales(self, x=None) -> list[dict]:
        """Per layer ``mean_abs`` and ``std_ratio`` (in, out) of the edge activations."""
        from .attribution import activation_scales

        return activation_scales(self, self._inputs(x))

    # ------------------------------------------------------------ pruning
    def prune_node(self, threshold: float = 1e-2, x=None, active_nodes=None):
        """A new model without the hidden nodes scoring <= ``threshold``."""
        from .prune import prune_node

        return prune_node(self, None if active_nodes is not None and x is None
                          else self._inputs(x), threshold, active_nodes)

    def prune_edge(self, threshold: float = 3e-2, x=None):
        """A copy with edges scoring <= ``threshold`` removed."""
        from .prune import prune_edge

        return prune_edge(self, self._inputs(x), threshold)

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2, x=None):
        """Node pruning then edge pruning; returns a new, smaller model."""
        from .prune import prune

        return prune(self, self._inputs(x), node_th, edge_th)

    def prune_input(self, threshold: float = 1e-2, x=None, active_inputs=None):
        """A new model without the inputs scoring <= ``threshold`` (see ``input_ids``)."""
        from .prune import prune_input

        return prune_input(self, None if active_inputs is not None and x is None
                           else self._inputs(x), threshold, active_inputs)

    # ------------------------------------------------------------ symbolic
    def suggest_symbolic(self, l: int, i: int, j: int, lib=None, topk: int = 5, x=None,
                         weight_simple: float = 0.8, a_range=(-10, 10), b_range=(-10, 10)):
        """The best ``topk`` functions for edge (l, i, j): dicts with function, r2,
        complexity, score and fitted params (a, b, c, d)."""
        from .symbolic.auto import suggest_symbolic

        return suggest_symbolic(self, l, i, j, self._inputs(x), lib, topk, weight_simple,
                                a_range, b_range)

    def fix_symbolic(self, l: int, i: int, j: int, name: str, fit_params: bool = True, x=None,
                     a_range=(-10, 10), b_range=(-10, 10)) -> dict:
        """Make edge (l, i, j) the symbolic function ``name`` (parameters fitted on ``x``)."""
        from .symbolic.auto import fix_symbolic

        return fix_symbolic(self, l, i, j, name, self._inputs(x) if fit_params else None,
                            fit_params, a_range, b_range)

    def unfix_symbolic(self, l: int, i: int, j: int) -> None:
        """Return edge (l, i, j) to its spline."""
        from .symbolic.auto import unfix_symbolic

        unfix_symbolic(self, l, i, j)

    def auto_symbolic(self, lib=None, weight_simple: float = 0.8, r2_threshold: float = 0.0,
                      x=None, zero_threshold: float = 1e-3, a_range=(-10, 10),
                      b_range=(-10, 10), y=None, method: str = "auto",
                      search_options: dict | None = None) -> list[dict]:
        """Make every numeric edge symbolic; returns the decisions. With targets ``y`` the
        edges get the combination the formula search judged best on the whole formula
        (see kanrun.kan.symbolic.auto.auto_symbolic); without, each its best fit."""
        from .symbolic.auto import auto_symbolic

        return auto_symbolic(self, self._inputs(x), lib, weight_simple, r2_threshold,
                             zero_threshold, a_range, b_range, y, method, search_options)

    def formula_search(self, x, y, **options):
        """The Pareto front of formulas for this model (kanrun.kan.symbolic.formula_from_model)."""
        from .symbolic.search import formula_from_model

        return formula_from_model(self, x, y, **options)

    def symbolic_report(self) -> list[dict]:
        """Per edge: mode (numeric / symbolic / removed), function, r2, params, reason."""
        from .symbolic.auto import symbolic_report

        return symbolic_report(self)

    def symbolic_formula(self, var_names=None, digits: int | None = 4,
                         simplify_seconds: float = 5.0):
        """One sympy expression per output (all relevant edges must be symbolic)."""
        from .symbolic.export import symbolic_formula

        return symbolic_formula(self, var_names, digits, simplify_seconds)

    # ------------------------------------------------------------ plots
    def plot(self, x=None, in_vars=None, out_vars=None, title=None, path=None, beta: float = 3.0):
        """The network diagram as a matplotlib Figure (saved to ``path`` if given)."""
        from .plot import plot_network

        return plot_network(self, self._inputs(x), in_vars=in_vars, out_vars=out_vars,
                            title=title, path=path, beta=beta)

    def plot_activations(self, x=None, path=None):
        """Every edge's activation curve, one panel per edge, as a Figure."""
        from .plot import plot_activations

        return plot_activations(self, self._inputs(x), path=path)
