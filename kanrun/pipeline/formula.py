"""The run's formula: taken from a fully symbolic model, checked on the test data, and
written as formula.json, formula.txt and formula.tex.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import sympy
import torch

from kanrun.common import clock
from kanrun.common.metrics import rmse
from kanrun.data import DatasetBundle, DatasetError, recovered, torch_function

from . import artifacts
from .describe import spline_edges


class FormulaUnavailable(Exception):
    """No formula for this model; the message says why (logged, the run goes on)."""


@dataclass
class FormulaOutput:
    name: str
    expr: sympy.Expr  # in the dataset's original units
    test_rmse: float | None  # of the formula in the model's units, on the test data
    truth: str | None = None
    recovered: bool | None = None


@dataclass
class Formula:
    variables: list[str]
    outputs: list[FormulaOutput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    test_accuracy: float | None = None  # classification: argmax of the logit formulas
    fronts: list = field(default_factory=list)  # ParetoFront per output (formula search)
    network_rmse: float | None = None  # the network's test RMSE the formula is judged by
    status: str | None = None  # accurate | approximate (None without a search)

    @property
    def recovered(self) -> bool | None:
        flags = [o.recovered for o in self.outputs]
        return None if any(f is None for f in flags) else all(flags)

    @property
    def test_rmse(self) -> float | None:
        """RMSE over all outputs together (None if one could not be evaluated)."""
        values = [o.test_rmse for o in self.outputs]
        if not values or any(v is None for v in values):
            return None
        return math.sqrt(sum(v * v for v in values) / len(values))


def _recovered(expr, truth, variables, seconds: float, notes: list[str]) -> bool | None:
    try:
        with clock.time_limit(seconds):
            return bool(recovered(expr, truth, variables))
    except clock.TimeUp:
        notes.append(f"could not decide within {seconds:g} CPU s whether the formula equals the "
                     f"truth {truth} (raise pipeline.recovery_seconds to wait longer)")
        return None
    except DatasetError as err:
        notes.append(f"recovery check failed: {err}")
        return False


def extract_formula(model, bundle: DatasetBundle, digits: int,
                    recovery_seconds: float = 30.0, network_rmse: float | None = None,
                    search: bool = False, search_seconds: float = 60.0,
                    templates: bool = True) -> Formula:
    """The model's formula per output, or FormulaUnavailable with the reason.

    With ``search`` each output's formula is the chosen one of a formula search started
    from the model's symbolic edges (joint float64 refit on the training data, exact
    constants, Pareto front); ``network_rmse`` is what it is judged against. ``templates``:
    the search also tries whole-formula templates fitted to the data (products of powers,
    :mod:`kanrun.kan.symbolic.products`); False: the network's own structure only (and
    the monomial of the inputs it uses).
    """
    remaining = spline_edges(model)
    if remaining:
        raise FormulaUnavailable(
            f"formula skipped: {remaining} edge(s) are still splines; add auto_symbolic to "
            f"pipeline.order (or lower pipeline.stages.auto_symbolic.r2_threshold)")
    names = list(bundle.input_names)
    exprs, _ = model.symbolic_formula(var_names=names, digits=digits)
    if isinstance(exprs, sympy.Basic):
        exprs = [exprs]
    exprs = [sympy.sympify(e) for e in exprs]
    if bundle.task == "classification":
        return _logit_formula(exprs, bundle, names)
    formula = Formula(variables=names, network_rmse=network_rmse)
    if search:
        try:
            exprs = _search(model, bundle, names, exprs, formula, search_seconds, digits,
                            templates)
        except Exception as err:  # best effort: the model's own formula remains
            formula.notes.append(f"formula search failed ({err!r}); the model's formula is "
                                 "reported without refit")
            formula.fronts, formula.status = [], None
    original = bundle.to_original_units(exprs)
    truths = bundle.truth or [None] * len(original)
    variables = dict(bundle.ranges) if bundle.ranges else names
    for i, (expr, expr_orig) in enumerate(zip(exprs, original, strict=False)):
        truth = truths[i] if i < len(truths) else None
        found = None
        if truth is not None:
            found = _recovered(expr_orig, truth, variables, recovery_seconds, formula.notes)
        formula.outputs.append(FormulaOutput(
            name=bundle.output_names[i] if i < len(bundle.output_names) else f"y{i + 1}",
            expr=expr_orig,
            test_rmse=_test_rmse(expr, names, bundle.data, i),
            truth=truth,
            recovered=found,
        ))
    formula.status = judge(formula, bundle.data["test_label"])
    return formula


def _logit_formula(exprs, bundle: DatasetBundle, names: list[str]) -> Formula:
    """Classification: one formula per class logit; the class is the largest logit."""
    classes = list(getattr(bundle, "class_names", None) or range(len(exprs)))
    original = bundle.to_original_units(exprs)
    formula = Formula(variables=names)
    for k, expr in enumerate(original):
        formula.outputs.append(FormulaOutput(name=f"logit_{classes[k]}", expr=expr,
                                             test_rmse=None))
    try:
        x = bundle.data["test_input"].to(torch.float64).cpu()
        with torch.no_grad():
            logits = torch.stack([torch_function(e, names)(x).reshape(-1).expand(x.shape[0])
                                  for e in exprs], dim=1)
        labels = bundle.data["test_label"].cpu()
        formula.test_accuracy = float((logits.argmax(1) == labels).double().mean())
    except (DatasetError, RuntimeError, TypeError, ValueError):
        formula.notes.append("the logit formulas could not be evaluated on the test data")
    return formula


APPROXIMATE_FACTOR = 2.0  # a formula more than this many times the network's error is approximate


POOR_FIT = 0.1  # a formula off by this share of the labels' spread explains little of them


def judge(formula: Formula, test_label) -> str | None:
    """``accurate`` when every output's formula is within APPROXIMATE_FACTOR of the
    network's test RMSE (plus a float64 floor) and within POOR_FIT of its labels' spread
    (a poor network does not make its formula the law); ``approximate`` otherwise; None
    when the network's error is unknown."""
    if formula.network_rmse is None or not math.isfinite(formula.network_rmse):
        return formula.status
    labels = test_label.to(torch.float64).reshape(test_label.shape[0], -1)
    for j, out in enumerate(formula.outputs):
        column = labels[:, min(j, labels.shape[1] - 1)]
        spread = float(column.std()) if column.numel() > 1 else 0.0
        limit = APPROXIMATE_FACTOR * formula.network_rmse + 1e-9 * spread
        if spread > 0:
            limit = min(limit, POOR_FIT * spread)
        if out.test_rmse is None or not out.test_rmse <= limit:
            return "approximate"
    return "accurate"


SEARCH_HARD_SECONDS = 180.0  # a search still running after this is stopped


def _search(model, bundle, names, exprs, formula: Formula, seconds: float,
            digits: int = 4, templates: bool = True) -> list:
    from kanrun.kan.symbolic.pareto import ParetoFront
    from kanrun.kan.symbolic.search import formula_from_model

    data = bundle.data
    out = []
    statuses = []
    hard = max(SEARCH_HARD_SECONDS, 6 * seconds)
    for k, expr in enumerate(exprs):
        try:
            with clock.time_limit(hard):
                result = formula_from_model(
                    model, data["train_input"], data["train_label"][:, k], var_names=names,
                    output=k, topk=2, beam_width=1, seconds=min(seconds, 20.0),
                    network_rmse=formula.network_rmse, x_test=data["test_input"],
                    y_test=data["test_label"][:, k], digits=digits,
                    product_top=2 if templates else 0)
        except clock.TimeUp:
            formula.notes.append(f"the formula search of output {k + 1} did not end within "
                                 f"{hard:g} CPU s; the model's own formula is reported for it")
            formula.fronts.append(ParetoFront(network_rmse=formula.network_rmse))
            out.append(expr)
            statuses.append("approximate")
            continue
        formula.fronts.append(result.front)
        formula.notes += result.front.notes
        statuses.append(result.status())
        out.append(result.expr if result.expr is not None else expr)
    formula.status = "approximate" if "approximate" in statuses or "none" in statuses \
        else "accurate"  # refined by judge() on the reported formula
    return out


def _test_rmse(expr, names, data, column: int) -> float | None:
    try:
        fn = torch_function(expr, names)
        x = data["test_input"].to(torch.float64).cpu()
        y = data["test_label"].to(torch.float64).cpu()[:, column]
        with torch.no_grad():
            value = rmse(fn(x), y)
    except (DatasetError, RuntimeError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def write_formula(run_dir: Path, formula: Formula) -> None:
    outputs = []
    for out in formula.outputs:
        row = {"name": out.name, "expr": str(out.expr), "latex": sympy.latex(out.expr),
               "test_rmse": out.test_rmse}
        if out.truth is not None:
            row["truth"] = out.truth
            row["recovered"] = out.recovered
        outputs.append(row)
    blob = {"variables": formula.variables, "outputs": outputs}
    if formula.test_accuracy is not None:
        blob["test_accuracy"] = formula.test_accuracy
    if formula.status is not None:
        blob["formula_status"] = formula.status
        blob["network_test_rmse"] = formula.network_rmse
    if any(o.truth is not None for o in formula.outputs):
        blob["recovered"] = formula.recovered
    artifacts.write_json(run_dir / "formula.json", blob)
    text = "".join(f"{o.name} = {o.expr}\n" for o in formula.outputs)
    artifacts.write_text(run_dir / "formula.txt", text)
    tex = "".join(
        f"\\begin{{equation}}\n{_latex_name(o.name)} = {sympy.latex(o.expr)}\n\\end{{equation}}\n"
        for o in formula.outputs)
    artifacts.write_text(run_dir / "formula.tex", tex)
    if formula.fronts:
        write_fronts(run_dir / "formulas.csv", formula)


FRONT_COLUMNS = ["output", "complexity", "train_rmse", "val_rmse", "test_rmse", "seconds",
                 "source", "pareto", "chosen", "expr"]


def write_fronts(path: Path, formula: Formula) -> None:
    """Every candidate formula of the search, one row each (val = held-out training rows)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FRONT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for out, front in zip(formula.outputs, formula.fronts, strict=False):
        for row in front.rows():
            writer.writerow({"output": out.name, **row})
    artifacts.write_text(path, buf.getvalue())


def _latex_name(name: str) -> str:
    return sympy.latex(sympy.Symbol(name))
