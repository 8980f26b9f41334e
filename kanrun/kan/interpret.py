"""The pykan-style front end of interpretation, as plain functions of a model.

What the KAN methods add to the functions they wrap: sample inputs given as a dataset dict
or left out (:func:`sample_inputs`), pykan's printed tables (:func:`suggestion_table`,
:func:`decision_line`), the ``(formulas, variables)`` pair of ``symbolic_formula``
(:func:`formula_pair`) and ``plot(folder=...)`` (:func:`plot`).

The one piece of state is ``model.reference_inputs`` (see
:class:`~kanrun.kan.network.KANNetwork`): an ``x`` given here becomes it, a missing ``x`` is
read from it. It is a reference held in memory, never copied to disk.
"""

from __future__ import annotations

from pathlib import Path

from .attribution import resolve_inputs
from .plot import plot_activations, plot_network
from .symbolic.export import make_variables, symbolic_formula


def sample_inputs(model, x=None):
    """``x`` (a tensor, or a dataset dict's ``train_input``) checked and remembered as the
    model's reference inputs; without ``x``, the reference inputs."""
    if isinstance(x, dict):
        x = x["train_input"]
    x = resolve_inputs(model, x)
    model.reference_inputs = x
    return x


def formula_pair(model, var=None, *, digits: int | None = 4, simplify_seconds: float = 5.0,
                 var_names=None):
    """pykan's ``(formulas, variables)``: one sympy expression per output and the input
    symbols (all relevant edges must be symbolic).

    ``var`` (or ``var_names``): input names or sympy symbols; default ``x_1, x_2, ...``
    (pykan's). ``digits``: decimals kept in constants (None keeps all);
    ``simplify_seconds``: time budget for tidying. ``formulas[0]`` is the first output.
    """
    if var is not None and var_names is not None:
        raise ValueError("give the input names once: var or var_names, not both")
    names = var if var is not None else var_names
    variables = make_variables(model.width_in[0], names)
    return symbolic_formula(model, variables, digits, simplify_seconds), variables


def plot(model, x=None, *, folder=None, beta: float = 3.0, metric: str = "backward",
         in_vars=None, out_vars=None, title=None, path=None):
    """The network diagram (:func:`kanrun.kan.plot.plot_network`) on ``x``.

    Edge opacity is tanh(beta * attribution score) (pykan's ``metric='backward'``, the
    only metric). A file is written only when asked: ``path`` names it, ``folder``
    (pykan's argument) writes ``folder/network.png`` and ``folder/activations.png``
    (one panel per edge; pykan writes one image per edge there).
    """
    if metric != "backward":
        raise ValueError(f"plot: metric must be 'backward' (attribution scores), got "
                         f"{metric!r}")
    xs = resolve_inputs(model, x)
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        plot_activations(model, xs, path=Path(folder) / "activations.png")
        if path is None:
            path = Path(folder) / "network.png"
    return plot_network(model, xs, in_vars=in_vars, out_vars=out_vars, title=title, path=path,
                        beta=beta)


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


def r2_line(rec: dict) -> str:
    """What ``fix_symbolic(verbose=True)`` prints."""
    return f"r2 is {rec['r2']}" if rec.get("r2") is not None else "r2 is not known"


__all__ = ["sample_inputs", "formula_pair", "plot", "suggestion_table", "decision_line",
           "r2_line"]
