"""suggest / fix / unfix / auto_symbolic and the per-edge decision report."""

import math

import pytest
import torch

from kanrun import KAN
from kanrun.kan.attribution import AttributionError
from kanrun.kan.symbolic.auto import SymbolicFitError


def planted(width, edges, seed=0):
    """A model whose numeric splines are all zero, with live numeric masks, plus planted
    symbolic parts: edge (l, i, j) -> (name, (a, b, c, d)). Numeric edges whose activation
    is the planted function: exactly what auto_symbolic sees on a trained model."""
    m = KAN(width, grid=5, k=3, seed=seed, dtype=torch.float64)
    with torch.no_grad():
        for layer in m.layers:
            layer.coef.zero_()
            layer.scale_base.zero_()
    for (li, i, j), (name, params) in edges.items():
        m.layers[li].symbolic.set_edge(i, j, name, params)
    return m


def _x(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1


PLANT = {
    (0, 0, 0): ("sin", (math.pi, 0.0, 0.5, 0.1)),
    (0, 1, 0): ("x^2", (1.0, 0.0, 0.8, -0.2)),
    (0, 0, 1): ("exp", (0.9, 0.0, 0.6, 0.0)),
    (0, 1, 1): ("x", (1.0, 0.0, -0.7, 0.3)),
    (1, 0, 0): ("tanh", (1.5, 0.2, 1.0, 0.0)),
    (1, 1, 0): ("x^3", (1.0, -0.3, 0.5, 0.0)),
}


def test_auto_symbolic_recovers_planted_functions_and_records_why():
    m = planted([2, 3, 1], PLANT)
    x = _x(600, 2)
    y_before = m(x)
    decisions = m.auto_symbolic(x=x)
    chosen = {(d["layer"], d["in"], d["out"]): d["function"] for d in decisions}
    for key, (name, _) in PLANT.items():
        assert chosen[key] == name, (key, chosen[key])
    # hidden node 2 carries nothing: its edges are negligible and become constants
    for key in [(0, 0, 2), (0, 1, 2), (1, 2, 0)]:
        assert chosen[key] == "0"
        rec = next(d for d in decisions if (d["layer"], d["in"], d["out"]) == key)
        assert "negligible" in rec["reason"]
    for layer in m.layers:  # every edge now symbolic, none numeric
        assert torch.all(layer.mask == 0) and torch.all(layer.symbolic.mask == 1)
    assert (m(x) - y_before).abs().max() < 1e-7
    report = m.symbolic_report()
    assert len(report) == 2 * 3 + 3 * 1
    sin_row = next(r for r in report if (r["layer"], r["in"], r["out"]) == (0, 0, 0))
    assert sin_row["mode"] == "symbolic" and sin_row["function"] == "sin"
    assert sin_row["r2"] > 1 - 1e-10 and sin_row["complexity"] == 2
    assert len(sin_row["params"]) == 4 and sin_row["alternatives"]
    assert sin_row["reason"].startswith("best score")


def test_a_non_negligible_edge_never_becomes_zero():
    """Nothing in lib fits arctanh's shape well, pykan's scoring would pick '0'."""
    m = planted([1, 1], {(0, 0, 0): ("arctanh", (0.99, 0.0, 0.3, 0.0))})
    x = _x(500, 1)
    (dec,) = m.auto_symbolic(lib=["sin", "x^2"], x=x)
    assert dec["function"] in ("sin", "x^2")
    assert dec["r2"] < 0.99  # a poor fit, reported as such
    assert m.layers[0].symbolic.names[0][0] != "0"


def test_r2_threshold_keeps_edges_numeric():
    m = planted([1, 1], {(0, 0, 0): ("sin", (3.0, 0.0, 1.0, 0.0))})
    x = _x(500, 1)
    (dec,) = m.auto_symbolic(lib=["x"], r2_threshold=0.99, x=x)
    assert dec["function"] is None and "kept numeric" in dec["reason"]
    assert m.layers[0].mask[0, 0] == 1
    (row,) = m.symbolic_report()
    assert row["mode"] == "numeric+symbolic" and "r2_threshold" in row["reason"]


def test_suggest_fix_unfix():
    m = planted([2, 1], {(0, 0, 0): ("sin", (2.0, 0.5, 1.3, 0.2)),
                         (0, 1, 0): ("x^2", (1.0, 0.0, 1.0, 0.0))})
    x = _x(500, 2)
    sugg = m.suggest_symbolic(0, 0, 0, topk=3, x=x)
    assert len(sugg) == 3 and sugg[0]["function"] == "sin"
    assert sugg[0]["score"] <= sugg[1]["score"] <= sugg[2]["score"]
    assert sugg[0]["r2"] > 1 - 1e-8
    m.unfix_symbolic(0, 0, 0)  # spline back (it is zero here), symbolic part gone
    assert m.layers[0].mask[0, 0] == 1 and m.layers[0].symbolic.mask[0, 0] == 0
    m.layers[0].symbolic.set_edge(0, 0, "sin", (2.0, 0.5, 1.3, 0.2))
    before = m(x)
    rec = m.fix_symbolic(0, 0, 0, "sin", x=x)
    assert rec["r2"] > 1 - 1e-12
    assert m.layers[0].mask[0, 0] == 0 and m.layers[0].symbolic.mask[0, 0] == 1
    assert (m(x) - before).abs().max() < 1e-9
    rec = m.fix_symbolic(0, 1, 0, "cos", fit_params=False)
    assert rec["r2"] is None and m.layers[0].symbolic.affine[1, 0].tolist() == [1, 0, 1, 0]


def test_symbolic_edges_train_to_machine_precision():
    target = planted([1, 1], {(0, 0, 0): ("sin", (2.0, 0.5, 1.3, 0.2))})
    x = _x(400, 1)
    with torch.no_grad():
        y = target(x)
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    m = planted([1, 1], {(0, 0, 0): ("sin", (2.0, 0.5, 1.3, 0.2))})
    m.fix_symbolic(0, 0, 0, "sin", x=x)
    with torch.no_grad():
        m.layers[0].symbolic.affine[0, 0] += torch.tensor([0.05, -0.03, 0.02, 0.01],
                                                          dtype=torch.float64)
    assert m.layers[0].symbolic.affine.requires_grad
    with torch.no_grad():
        assert (m(x) - y).pow(2).mean().sqrt() > 1e-3
    hist = m.fit(data, steps=5, update_grid=False)
    assert hist["train_loss"][-1] < 1e-10


def test_errors_name_what_to_change():
    m = planted([2, 1], {})
    with pytest.raises(AttributionError, match="pass x="):
        m.auto_symbolic()
    x = _x(100, 2)
    with pytest.raises(SymbolicFitError, match=r"edge \(0,2,0\) does not exist"):
        m.suggest_symbolic(0, 2, 0, x=x)
    with pytest.raises(SymbolicFitError, match="layer 3 does not exist"):
        m.fix_symbolic(3, 0, 0, "sin", x=x)
    with pytest.raises(SymbolicFitError, match="domain"):
        m.fix_symbolic(0, 0, 0, "log", x=x, a_range=(1, 2), b_range=(-3, -2))
    with pytest.raises(SymbolicFitError, match="weight_simple"):
        m.auto_symbolic(x=x, weight_simple=2)
