"""Interpretability methods mixed into :class:`kanrun.kan.model.KAN`.

(prune, attribute, symbolic fitting, formula export, plot). Each method delegates to its
own module; this class only wires them onto the model.

Methods that measure activations take sample inputs ``x`` (a tensor, or a dataset dict whose
``train_input`` is used). Without ``x`` they use the inputs the model remembers: those of the
last ``model(x)``, the training inputs of the last ``fit``, or the last explicit ``x`` given
here. As in pykan, ``model.fit(dataset)`` followed by ``model.plot()``, ``model.prune()`` or
``model.auto_symbolic()`` just works. The reference is held in memory only (not saved in
checkpoints; carried, restricted to the kept inputs, to pruned copies).

Nothing here prints unless asked (``verbose``), and no file is written unless a ``path`` or
``folder`` is given.
"""

from __future__ import annotations


class InterpretMixin:
    """Methods that turn a trained KAN into a small network and a formula."""

    def _inputs(self, x):
        from .attribution import resolve_inputs

        if isinstance(x, dict):
            x = x["train_input"]
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
                         weight_simple: float = 0.8, a_range=(-10, 10), b_range=(-10, 10),
                         verbose: bool = False):
        """The best ``topk`` functions for edge (l, i, j): dicts with function, r2,
        complexity, score and fitted params (a, b, c, d), best first.

        ``verbose=True`` also prints them as a table, as pykan does by default.
        """
        from .symbolic.auto import suggest_symbolic

        cands = suggest_symbolic(self, l, i, j, self._inputs(x), lib, topk, weight_simple,
                                 a_range, b_range)
        if verbose:
            print(suggestion_table(cands))
        return cands

    def fix_symbolic(self, l: int, i: int, j: int, name: str, fit_params: bool = True, x=None,
                     a_range=(-10, 10), b_range=(-10, 10), verbose: bool = False) -> dict:
        """Make edge (l, i, j) the symbolic function ``name`` (parameters fitted on ``x``);
        returns the edge's record (function, r2, params). ``verbose`` prints the r2."""
        from .symbolic.auto import fix_symbolic

        rec = fix_symbolic(self, l, i, j, name, self._inputs(x) if fit_params else None,
                           fit_params, a_range, b_range)
        if verbose:
            print(f"r2 is {rec['r2']}" if rec.get("r2") is not None else "r2 is not known")
        return rec

    def unfix_symbolic(self, l: int, i: int, j: int) -> None:
        """Return edge (l, i, j) to its spline."""
        from .symbolic.auto import unfix_symbolic

        unfix_symbolic(self, l, i, j)

    def auto_symbolic(self, lib=None, weight_simple: float = 0.8, r2_threshold: float = 0.0,
                      x=None, zero_threshold: float = 1e-3, a_range=(-10, 10),
                      b_range=(-10, 10), y=None, method: str = "auto",
                      search_options: dict | None = None, verbose: int = 0) -> list[dict]:
        """Make every numeric edge symbolic; returns the decisions. With targets ``y`` the
        edges get the combination the formula search judged best on the whole formula
        (see kanrun.kan.symbolic.auto.auto_symbolic); without, each its best fit.

        ``verbose >= 1`` prints one line per decision, as pykan does by default.
        """
        from .symbolic.auto import auto_symbolic

        decisions = auto_symbolic(self, self._inputs(x), lib, weight_simple, r2_threshold,
                                  zero_threshold, a_range, b_range, y, method, search_options)
        if verbose >= 1:
            for d in decisions:
                print(decision_line(d))
        return decisions

    def formula_search(self, x, y, **options):
        """The Pareto front of formulas for this model (kanrun.kan.symbolic.formula_from_model)."""
        from .symbolic.search import formula_from_model

        return formula_from_model(self, x, y, **options)

    def symbolic_report(self) -> list[dict]:
        """Per edge: mode (numeric / symbolic / removed), function, r2, params, reason."""
        from .symbolic.auto import symbolic_report

        return symbolic_report(self)

    def symbolic_formula(self, var=None, digits: int | None = 4, simplify_seconds: float = 5.0,
                         var_names=None):
        """pykan's pair ``(formulas, variables)``: one sympy expression per output and the
        input symbols (all relevant edges must be symbolic).

        ``var`` (or ``var_names``): input names or sympy symbols; default ``x_1, x_2, ...``
        (pykan's). ``digits``: decimals kept in constants (None keeps all);
        ``simplify_seconds``: time budget for tidying. ``formulas[0]`` is the first output.
        """
        from .symbolic.export import make_variables, symbolic_formula

        if var is not None and var_names is not None:
            raise ValueError("give the input names once: var or var_names, not both")
        names = var if var is not None else var_names
        variables = make_variables(self.width_in[0], names)
        return symbolic_formula(self, variables, digits, simplify_seconds), variables

    # ------------------------------------------------------------ plots
    def plot(self, folder=None, beta: float = 3.0, metric: str = "backward", scale: float = 0.5,
             tick: bool = False, sample: bool = False, in_vars=None, out_vars=None, title=None,
             varscale: float = 1.0, x=None, path=None):
        """The network diagram as a matplotlib Figure, on ``x`` or the remembered inputs.

        Edge opacity is tanh(beta * attribution score) (pykan's ``metric='backward'``, the
        only metric). A file is written only when asked: ``path`` names it, ``folder``
        (pykan's argument) writes ``folder/network.png`` and ``folder/activations.png``
        (one panel per edge; pykan writes one image per edge there). ``scale``, ``tick``,
        ``sample`` and ``varscale`` are accepted for pykan scripts; the layout is automatic.
        """
        from pathlib import Path

        from .plot import plot_activations, plot_network

        if metric != "backward":
            raise ValueError(f"plot: metric must be 'backward' (attribution scores), got "
                             f"{metric!r}")
        xs = self._inputs(x)
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
            plot_activations(self, xs, path=Path(folder) / "activations.png")
            if path is None:
                path = Path(folder) / "network.png"
        return plot_network(self, xs, in_vars=in_vars, out_vars=out_vars, title=title,
                            path=path, beta=beta)

    def plot_activations(self, x=None, path=None):
        """Every edge's activation curve, one panel per edge, as a Figure."""
        from .plot import plot_activations

        return plot_activations(self, self._inputs(x), path=path)


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def suggestion_table(cands: list[dict]) -> str:
    """The candidates of ``suggest_symbolic`` as a text table (pykan's columns)."""
    lines = [f"{'':>3} {'function':<10} {'fitting r2':>12} {'complexity':>10} {'total loss':>11}"]
    for k, c in enumerate(cands):
        lines.append(f"{k:>3} {c['function']:<10} {_fmt(c['r2'], '12.6f')} "
                     f"{_fmt(c['complexity'], '10g')} {_fmt(c['score'], '11.4f')}")
    return "\n".join(lines)


def decision_line(d: dict) -> str:
    """One auto_symbolic decision as pykan prints it."""
    edge = f"({d['layer']},{d['in']},{d['out']})"
    if d.get("function") is None:
        return f"keeping {edge} numeric: {d.get('reason', '')}"
    if d["function"] == "0":
        return f"fixing {edge} with 0"
    return f"fixing {edge} with {d['function']}, r2={d['r2']:.6g}, c={d.get('complexity')}"
